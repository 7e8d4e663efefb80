/**
 * Metrics API latency with 10,000 monitors' data stored (one day at a 10-minute interval each,
 * 1.44M rows): `latest` for random monitors and a 1-day history at 5-minute buckets, each at
 * 100 requests/s over HTTPS; baseline: GET /health at the same rate in the same run.
 *   npx tsx bench/metrics-api.mts [--monitors 10000] [--seconds 10]
 */
import pg from 'pg';
import { startTestServer } from '../test/helpers/server.ts';

const arg = (n: string, d: number) =>
  process.argv.includes(`--${n}`) ? Number(process.argv[process.argv.indexOf(`--${n}`) + 1]) : d;
const MONITORS = arg('monitors', 10_000);
const SECONDS = arg('seconds', 10);
const s = await startTestServer({ metrics: { latest_cache_ms: 5000 } });
const db = new pg.Client({ connectionString: s.dbUrl });
await db.connect();
const T0 = Date.now() - 86400_000;
try {
  const agent = (await s.api('POST', '/api/v1/agents', { name: 'api-bench' })).body.agent.id;
  const cred = (
    await s.api('POST', '/api/v1/credential-profiles', {
      name: 'api-bench',
      type: 'winrm_basic',
      username: 'u',
      password: 'p',
    })
  ).body.id;
  await db.query(
    `INSERT INTO devices (agent_id, ip) SELECT $1, '10.' || (i / 65536) || '.' || ((i / 256) % 256) || '.' || (i % 256) FROM generate_series(1, $2) i`,
    [agent, MONITORS],
  );
  await db.query(
    'INSERT INTO monitors (device_id, credential_profile_id, plugin_id, polling_interval, enabled) SELECT id, $1, 1, 600, false FROM devices WHERE agent_id = $2',
    [cred, agent],
  );
  const t = performance.now();
  await db.query(
    `INSERT INTO metrics (time, monitor_id, cpu_percent, memory_total, memory_used, disk_total, disk_used, net_sent_ps, net_recv_ps, net_utilization, process_count, collection_ms)
     SELECT to_timestamp($1 / 1000.0) + make_interval(mins => 10 * k), m.id, (m.id + k) % 100, 8000000000, 4000000000, 100000000000, 50000000000, 1000, 2000, 1, 100, 5
       FROM monitors m CROSS JOIN generate_series(0, 143) k`,
    [T0],
  );
  await db.query('ANALYZE metrics');
  const ids = (await db.query('SELECT id FROM monitors')).rows.map((r) => r.id as number);
  console.log(`loaded ${ids.length * 144} rows in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  async function paced(
    name: string,
    path: () => string,
  ): Promise<{ name: string; p50: number; p95: number; p99: number; errors: number }> {
    const lat: number[] = [];
    let errors = 0;
    const inflight: Promise<void>[] = [];
    const start = performance.now();
    for (let i = 0; i < SECONDS * 100; i++) {
      const due = start + i * 10;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      inflight.push(
        (async () => {
          const t0 = performance.now();
          const r = await s.api('GET', path());
          lat.push(performance.now() - t0);
          if (r.status !== 200) errors++;
        })(),
      );
    }
    await Promise.all(inflight);
    lat.sort((a, b) => a - b);
    const q = (p: number) => Number(lat[Math.floor(p * lat.length)]!.toFixed(1));
    return { name, p50: q(0.5), p95: q(0.95), p99: q(0.99), errors };
  }
  const pick = () => ids[Math.floor(Math.random() * ids.length)]!;
  const from = new Date(T0).toISOString();
  const to = new Date(T0 + 86400_000).toISOString();
  const results = [
    await paced('baseline GET /health', () => '/api/v1/health'),
    await paced('latest metrics', () => `/api/v1/monitors/${pick()}/metrics`),
    await paced(
      '1-day history, 5m buckets',
      () => `/api/v1/monitors/${pick()}/metrics/history?from=${from}&to=${to}&bucket=5m`,
    ),
  ];
  for (const r of results)
    console.log(JSON.stringify({ ...r, p95_vs_baseline: Number((r.p95 / results[0]!.p95).toFixed(2)) }));
} finally {
  await db.end();
  await s.stop();
}
