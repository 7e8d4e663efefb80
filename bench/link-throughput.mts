/**
 * Results per second from one agent through the link into PostgreSQL, against the same rows
 * written by COPY straight into the metrics table in the same run (the ceiling).
 *   npx tsx bench/link-throughput.ts [--rows 200000]
 * The agent side is the real disk spool and link; the server is the real hub, writer and database.
 * `--agent-heap` applies the agent's heap bounds (agent/heap-tuning.ts, as `nmslite-agent run` does)
 * to this process — a worst case, since the server shares the process here.
 */
import { mkdtempSync } from 'node:fs';
import pg from 'pg';
import { loadIdentity } from '../agent/identity.ts';
import { createLink, type SpooledResult } from '../agent/link/client.ts';
import { openDiskSpool } from '../agent/spool/disk-spool.ts';
import { boundHeapGrowth } from '../agent/heap-tuning.ts';
import { copyInto, encodeCopyRows } from '../server/metrics/copy-rows.ts';
import { startTestServer } from '../test/helpers/server.ts';
import { enrollAgent } from '../test/helpers/agent-process.ts';
import { DIRECT } from '../agent/link/proxy.ts';
import { REALISTIC_SAMPLE } from '../test/helpers/metric-samples.ts';

const arg = (n: string, d: number) =>
  process.argv.includes(`--${n}`) ? Number(process.argv[process.argv.indexOf(`--${n}`) + 1]) : d;
const ROWS = arg('rows', 200_000);
if (process.argv.includes('--agent-heap')) boundHeapGrowth();
const MONITORS = 200;

const s = await startTestServer({ metrics: { writer_batch: 5000, writer_flush_ms: 20, latest_cache_ms: 0 } });
const db = new pg.Client({ connectionString: s.dbUrl });
await db.connect();
try {
  const { agentId, home } = await enrollAgent(s, 'bench-site');
  const cred = (
    await s.api('POST', '/api/v1/credential-profiles', { name: 'b', type: 'winrm_basic', username: 'u', password: 'p' })
  ).body;
  const monitors: number[] = [];
  for (let i = 0; i < MONITORS; i++) {
    const dev = (await s.api('POST', '/api/v1/devices', { agent_id: agentId, ip: `10.${i >> 8}.${i & 255}.1` })).body;
    monitors.push(
      (
        await s.api('POST', '/api/v1/monitors', {
          device_id: dev.id,
          credential_profile_id: cred.id,
          plugin_id: 1,
          enabled: false,
        })
      ).body.id,
    );
  }
  // Protocol 2 stores results only for monitors in the agent's assignment set: enabled, as a polling agent's are.
  await db.query('UPDATE monitors SET enabled = true');
  await s.restart();
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  const timeOf = (j: number) => t0 + Math.floor(j / MONITORS) * 1000;

  // Baseline: one COPY stream per 50,000 rows straight into the table.
  let t = performance.now();
  for (let i = 0; i < ROWS; i += 50_000) {
    const rows = [];
    for (let j = i; j < Math.min(ROWS, i + 50_000); j++)
      rows.push({
        monitor_id: monitors[j % MONITORS]!,
        time: new Date(timeOf(j)),
        agent_seq: j,
        ok: true as const,
        sample: REALISTIC_SAMPLE,
      });
    await copyInto(db, 'metrics', encodeCopyRows(rows));
  }
  const copySecs = (performance.now() - t) / 1000;
  await db.query('TRUNCATE metrics');

  // Through the agent: spool everything (as after a day offline), then replay over the link.
  const spool = openDiskSpool<SpooledResult>({ dir: mkdtempSync('/tmp/bench-spool-'), capBytes: 4 * 1024 ** 3 });
  for (let i = 0; i < ROWS; i += 10_000) {
    const chunk: SpooledResult[] = [];
    for (let j = i; j < Math.min(ROWS, i + 10_000); j++)
      chunk.push({
        job_id: `b${j}`,
        monitor_id: monitors[j % MONITORS]!,
        time: new Date(timeOf(j)).toISOString(),
        metrics: REALISTIC_SAMPLE,
      });
    await spool.append(chunk);
  }
  const quiet = { info() {}, warn() {}, error() {}, debug() {} };
  t = performance.now();
  const link = createLink({
    identity: loadIdentity(`${home}/identity.json`),
    spool,
    log: quiet,
    proxy: DIRECT,
    hostname: 'bench',
    maxInFlight: 10,
    health: () => ({ spool_backlog: 0, jobs_in_flight: 0, job_lateness_ms: 0, errors: {} }),
    batchSize: 1000,
    batchesInFlight: 8,
  });
  link.start();
  while (spool.stats().backlog > 0) await new Promise((r) => setTimeout(r, 20));
  const linkSecs = (performance.now() - t) / 1000;
  await link.stop();
  const stored = Number((await db.query('SELECT count(*) AS n FROM metrics')).rows[0].n);
  const copyRate = ROWS / copySecs;
  const linkRate = ROWS / linkSecs;
  console.log(
    JSON.stringify({
      rows: ROWS,
      stored,
      copy_rows_per_s: Math.round(copyRate),
      link_rows_per_s: Math.round(linkRate),
      ratio: Number((linkRate / copyRate).toFixed(3)),
      replay_2_9M_estimate_s: Math.round(2_900_000 / linkRate),
    }),
  );
  if (stored !== ROWS) throw new Error(`stored ${stored} of ${ROWS}`);
} finally {
  await db.end();
  await s.stop();
}
