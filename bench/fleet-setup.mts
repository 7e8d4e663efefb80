/**
 * Shared setup for the whole-system benchmarks (outage-recovery, agent-10k): simulated Windows
 * hosts in a child process (test/winsim/cli.ts, NTLM + sealing over HTTP, one loopback address
 * each), a real server over embedded PostgreSQL (test/helpers/server.ts), one enrolled agent home,
 * and one windows-wmi monitor per host seeded straight into the database (thousands of API calls
 * would take longer than the runs) and picked up by restarting the server.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { enrollAgent } from '../test/helpers/agent-process.ts';
import { startTestServer, type TestServer } from '../test/helpers/server.ts';
import { nextSlot } from '../shared/schedule.ts';
import { spawnWinsimCli } from '../test/e2e/edge-fixtures.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function numArg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0)
    throw new Error(`--${name} must be a positive number, got '${process.argv[i + 1]}'`);
  return v;
}

export interface Fleet {
  s: TestServer;
  db: pg.Client;
  /** The simulator processes (one, unless simProcesses split the hosts). */
  sims: ChildProcess[];
  home: string;
  agentId: number;
  monitors: { id: number; interval_ms: number }[];
  stop(): Promise<void>;
}

/** 127.70.0.1 + n, as test/winsim numbers its distinct addresses. */
function nthAddress(n: number): string {
  const v = ((70 << 16) | 1) + n;
  if (v > 0xffffff) throw new Error('too many hosts for distinct loopback addresses');
  return `127.${(v >> 16) & 255}.${(v >> 8) & 255}.${v & 255}`;
}

async function startSim(
  script: string,
  hosts: number,
  firstHost: number,
  extra: string[],
): Promise<{ child: ChildProcess; hosts: { address: string; port: number }[] }> {
  const { child, hosts: list } = await spawnWinsimCli(
    hosts,
    ['--bind', nthAddress(firstHost), '--distinct-addresses', '--auth', 'ntlm', '--password', 'Fleet-Pass-1', ...extra],
    { script, stderr: 'inherit', timeoutMs: 600_000 },
  );
  return { child, hosts: list };
}

/**
 * `simProcesses` splits the hosts over that many simulator processes: each listening host and
 * each kept-alive connection to it is a file descriptor, and one process may hold only `ulimit -n`.
 */
export async function startFleet(o: {
  hosts: number;
  intervalS: number;
  server?: Parameters<typeof startTestServer>[0];
  simScript?: string;
  simArgs?: (index: number) => string[];
  simProcesses?: number;
}): Promise<Fleet> {
  const parts = Math.max(1, Math.min(o.hosts, o.simProcesses ?? 1));
  const per = Math.ceil(o.hosts / parts);
  const started = await Promise.all(
    Array.from({ length: parts }, (_, i) =>
      startSim(o.simScript ?? 'test/winsim/cli.ts', Math.min(per, o.hosts - i * per), i * per, o.simArgs?.(i) ?? []),
    ),
  );
  const sims = started.map((x) => x.child);
  const hosts = started.flatMap((x) => x.hosts);
  const s = await startTestServer(o.server ?? {});
  const db = new pg.Client({ connectionString: s.dbUrl });
  await db.connect();
  const { agentId, home } = await enrollAgent(s, 'bench');
  const cred = (
    await s.api('POST', '/api/v1/credential-profiles', {
      name: 'bench',
      type: 'winrm_ntlm',
      username: 'Administrator',
      password: 'Fleet-Pass-1',
    })
  ).body;
  if (!cred?.id) throw new Error(`credential profile not created: ${JSON.stringify(cred)}`);
  await db.query(
    `INSERT INTO devices (agent_id, ip, port, status) SELECT $1, ip, port, 'active' FROM unnest($2::text[], $3::int[]) AS h(ip, port)`,
    [agentId, hosts.map((h) => h.address), hosts.map((h) => h.port)],
  );
  await db.query(
    `INSERT INTO monitors (device_id, credential_profile_id, plugin_id, polling_interval, enabled)
     SELECT d.id, $2, (SELECT id FROM plugins WHERE type = 'windows-wmi' ORDER BY id LIMIT 1), $3, true FROM devices d WHERE d.agent_id = $1`,
    [agentId, cred.id, o.intervalS],
  );
  await s.restart();
  const monitors = (await db.query('SELECT id, polling_interval FROM monitors ORDER BY id')).rows.map((r) => ({
    id: Number(r.id),
    interval_ms: Number(r.polling_interval) * 1000,
  }));
  return {
    s,
    db,
    sims,
    home,
    agentId,
    monitors,
    async stop() {
      await db.end().catch(() => {});
      await s.stop().catch(() => {});
      for (const c of sims) c.kill('SIGTERM');
    },
  };
}

/** Polls the schedule asks for in [from, to): every monitor's slots (shared/schedule.ts) in that span. */
export function slotsIn(monitors: { id: number; interval_ms: number }[], from: number, to: number): number {
  let n = 0;
  for (const m of monitors) for (let t = nextSlot(m.id, m.interval_ms, from); t < to; t += m.interval_ms) n++;
  return n;
}

/** Rows stored with their time in [from, to). */
export async function storedIn(db: pg.Client, from: number, to: number): Promise<number> {
  return Number(
    (
      await db.query('SELECT count(*)::int AS n FROM metrics WHERE time >= $1 AND time < $2', [
        new Date(from),
        new Date(to),
      ])
    ).rows[0].n,
  );
}
