/**
 * Server cost of polling: the server process's CPU per 1,000 results/s with the assignment design
 * (protocol 2: agents hold the schedule and send results) against today's-before-issue-11 per-poll
 * dispatch (protocol 1, commit 2544da1: the server dispatches every poll), same load, same run.
 *   git worktree add /tmp/nmslite-old 2544da1 && ln -s /work/main/node_modules /tmp/nmslite-old/node_modules
 *   npx tsx bench/server-cost.mts [--monitors 100000] [--agents 100] [--interval 60] [--warmup 45] [--window 75]
 *                                 [--old /tmp/nmslite-old] [--only new|old] [--flush-ms 50]
 * Each design: its own database (in one embedded PostgreSQL), its server started as a child process
 * (`node --import tsx server/main.ts`, log level warn), agents enrolled through the API, devices and
 * monitors seeded with SQL and picked up by restarting the server, then one child process holding
 * every agent's simulated link (bench/sim-links.mts) producing results without WinRM.
 * Measured after the warm-up, over the window: utime+stime of the server process (/proc/PID/stat),
 * of PostgreSQL (postmaster and backends, reported apart) and of the link process, and the metrics
 * rows stored. Target (issue 11): 100,000 monitors at 60 s cost the server < 50 % of one core.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { generateAgentKeys } from '../agent/identity.ts';
import { startEmbeddedPostgres } from '../server/db/embedded.ts';
import { freePort } from '../test/helpers/db.ts';
import { httpsRequest } from '../test/helpers/server.ts';
import { postgresCpuS, postmasterPid, procCpuS, procRssMb } from './proc-stat.mts';

const argv = process.argv.slice(2);
const opt = (n: string): string | undefined => (argv.includes(`--${n}`) ? argv[argv.indexOf(`--${n}`) + 1] : undefined);
const num = (n: string, d: number): number => {
  const v = opt(n);
  if (v === undefined) return d;
  const x = Number(v);
  if (!Number.isFinite(x) || x <= 0) throw new Error(`--${n} must be a positive number, got '${v}'`);
  return x;
};
const MONITORS = num('monitors', 100_000);
const AGENTS = num('agents', 100);
const INTERVAL_S = num('interval', 60);
const WARMUP_S = num('warmup', 45);
const WINDOW_S = num('window', 75);
const FLUSH_MS = num('flush-ms', 50);
const OLD_ROOT = resolve(opt('old') ?? '/tmp/nmslite-old');
const ONLY = opt('only');
if (ONLY && ONLY !== 'new' && ONLY !== 'old') throw new Error("--only takes 'new' or 'old'");
const NEW_ROOT = fileURLToPath(new URL('..', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (ONLY !== 'new' && !existsSync(join(OLD_ROOT, 'server/main.ts'))) {
  throw new Error(
    `the old design is not checked out at ${OLD_ROOT}: git worktree add ${OLD_ROOT} 2544da1 && ln -s ${NEW_ROOT}node_modules ${OLD_ROOT}/node_modules (or --only new)`,
  );
}

const pgDir = mkdtempSync('/tmp/nmslite-bench-pg-');
const pgPassword = randomBytes(12).toString('hex');
const db = await startEmbeddedPostgres({ dataDir: join(pgDir, 'pg'), port: await freePort(), password: pgPassword });
const postmaster = postmasterPid(join(pgDir, 'pg'));
const baseUrl = db.url.slice(0, db.url.lastIndexOf('/'));
const children = new Set<ChildProcess>();

interface Phase {
  design: 'new' | 'old';
  protocol: 1 | 2 | 3;
  monitors: number;
  agents: number;
  server_start_s: number;
  window_s: number;
  server_cpu_share: number;
  server_cpu_per_1000_results_s: number;
  server_rss_mb: number;
  postgres_cpu_share: number;
  links_cpu_share: number;
  results_stored_per_s: number;
  results_sent_per_s: number;
  results_per_batch: number;
  link_backlog_at_end: number;
  link_backlog_max: number;
  link_connects: number;
  link_closes: Record<string, number>;
  server_log_warnings: Record<string, number>;
}

/** Warnings and errors the servers logged, counted by message (pino JSON lines on stderr). */
const logCounts = new Map<string, number>();
function countLog(line: string): void {
  if (!line.startsWith('{')) return;
  try {
    const o = JSON.parse(line) as { level?: number; msg?: string; err?: string };
    if ((o.level ?? 0) < 40) return;
    const key = `${o.level! >= 50 ? 'error' : 'warn'}: ${o.msg ?? ''}${o.err ? ` (${String(o.err).slice(0, 80)})` : ''}`;
    logCounts.set(key, (logCounts.get(key) ?? 0) + 1);
  } catch {
    /* not JSON */
  }
}

function startServer(
  root: string,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; exited: Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  const exited = new Promise<void>((r) => child.once('exit', () => (children.delete(child), r())));
  const tail: string[] = [];
  return new Promise((resolveUp, reject) => {
    const rl = createInterface({ input: child.stderr! });
    rl.on('line', (line) => {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      countLog(line);
      if (line.includes('NMSlite is up')) resolveUp({ child, exited });
    });
    child.once('exit', (code) =>
      reject(new Error(`server in ${root} exited with ${code} before it was up:\n${tail.join('\n')}`)),
    );
  });
}

async function stopChild(c: { child: ChildProcess; exited: Promise<void> }): Promise<void> {
  c.child.kill('SIGTERM');
  await Promise.race([c.exited, sleep(20_000).then(() => c.child.kill('SIGKILL'))]);
  await c.exited;
}

async function runPhase(design: 'new' | 'old'): Promise<Phase> {
  const root = design === 'new' ? NEW_ROOT : OLD_ROOT;
  const protocol = design === 'new' ? 3 : 1;
  const dbName = `bench_${design}`;
  const admin = new pg.Client({ connectionString: `${baseUrl}/postgres` });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName}`);
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const url = `${baseUrl}/${dbName}`;
  const dataDir = mkdtempSync(`/tmp/nmslite-bench-${design}-`);
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const env = {
    DATABASE_URL: url,
    NMSLITE_DATA_DIR: dataDir,
    NMSLITE_SERVER_HOST: '127.0.0.1',
    NMSLITE_SERVER_PORT: String(port),
    AUTH_USERNAME: 'admin',
    AUTH_PASSWORD: password,
    JWT_SECRET: randomBytes(32).toString('hex'),
    NMSLITE_MASTER_KEY: randomBytes(32).toString('base64'),
    NMSLITE_LOG_LEVEL: 'warn',
  };
  const api = async (token: string | null, method: string, path: string, body?: unknown) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const r = await httpsRequest(
      method,
      `https://127.0.0.1:${port}/api/v1${path}`,
      headers,
      body === undefined ? undefined : JSON.stringify(body),
    );
    if (r.status >= 300) throw new Error(`${design}: ${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };

  // 1. Agents enrolled and one credential profile, through the API.
  let server = await startServer(root, env);
  const token = (await api(null, 'POST', '/auth/login', { username: 'admin', password })).token as string;
  const identities: { agent_id: number; sign_private_key: string }[] = [];
  for (let i = 0; i < AGENTS; i++) {
    const created = await api(token, 'POST', '/agents', { name: `bench-${i}` });
    const keys = generateAgentKeys();
    const r = await api(null, 'POST', '/agents/enroll', {
      token: created.enrollment_token,
      sign_public_key: keys.sign_public_key,
      seal_public_key: keys.seal_public_key,
    });
    identities.push({ agent_id: r.agent_id, sign_private_key: keys.sign_private_key });
  }
  const cred = await api(token, 'POST', '/credential-profiles', {
    name: 'bench',
    type: 'winrm_ntlm',
    username: 'Administrator',
    password: 'Bench-Pass-1',
  });
  await stopChild(server);

  // 2. Devices and monitors straight into the database (100k API calls would take longer than the run).
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const perAgent = Math.ceil(MONITORS / AGENTS);
  await c.query(
    `INSERT INTO devices (agent_id, ip, port, status)
     SELECT a.id, '10.' || (g / 65536) || '.' || (g / 256 % 256) || '.' || (g % 256), 5985, 'active'
       FROM agents a CROSS JOIN generate_series(1, $1::int) g`,
    [perAgent],
  );
  await c.query(
    `INSERT INTO monitors (device_id, credential_profile_id, plugin_id, polling_interval, enabled)
     SELECT d.id, $1, (SELECT id FROM plugins WHERE type = 'windows-wmi' ORDER BY id LIMIT 1), $2, true
       FROM devices d ORDER BY d.id LIMIT $3`,
    [cred.id, INTERVAL_S, MONITORS],
  );
  const seeded = Number((await c.query('SELECT count(*)::int AS n FROM monitors WHERE enabled')).rows[0].n);

  // 3. The server picks the monitors up at start; then every agent's link connects.
  logCounts.clear();
  const t0 = Date.now();
  server = await startServer(root, env);
  const serverStart = (Date.now() - t0) / 1000;
  const pid = server.child.pid!;
  const cfgFile = join(dataDir, 'links.json');
  writeFileSync(
    cfgFile,
    JSON.stringify({ server: `wss://127.0.0.1:${port}`, protocol, flush_ms: FLUSH_MS, identities }),
    { mode: 0o600 },
  );
  const links = spawn(process.execPath, ['--import', 'tsx', join(NEW_ROOT, 'bench/sim-links.mts'), cfgFile], {
    cwd: NEW_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(links);
  const linksExited = new Promise<void>((r) => links.once('exit', () => (children.delete(links), r())));
  let last: any = {};
  createInterface({ input: links.stdout! }).on('line', (l) => {
    try {
      last = JSON.parse(l);
    } catch {
      /* not a counter line */
    }
  });
  await sleep(WARMUP_S * 1000);

  const count = async () => Number((await c.query('SELECT count(*)::bigint AS n FROM metrics')).rows[0].n);
  const sample = () => ({
    at: Date.now(),
    server: procCpuS(pid) ?? NaN,
    pg: postgresCpuS(postmaster),
    links: procCpuS(links.pid!) ?? NaN,
  });
  const sent0 = last.results_sent ?? 0;
  const batches0 = last.batches_sent ?? 0;
  const s0 = sample();
  const n0 = await count();
  let maxRss = 0;
  while (Date.now() - s0.at < WINDOW_S * 1000) {
    await sleep(1000);
    maxRss = Math.max(maxRss, Math.round(procRssMb(pid)));
  }
  const s1 = sample();
  const n1 = await count();
  const lastAtWindowEnd = last;
  const wall = (s1.at - s0.at) / 1000;
  links.kill('SIGTERM');
  await linksExited;
  await stopChild(server);
  await c.end();
  rmSync(dataDir, { recursive: true, force: true });

  const storedPerS = (n1 - n0) / wall;
  const serverShare = (s1.server - s0.server) / wall;
  const sentInWindow = (lastAtWindowEnd.results_sent ?? 0) - sent0;
  return {
    design,
    protocol,
    monitors: seeded,
    agents: AGENTS,
    server_start_s: Number(serverStart.toFixed(1)),
    window_s: Number(wall.toFixed(1)),
    server_cpu_share: Number(serverShare.toFixed(3)),
    server_cpu_per_1000_results_s: Number((serverShare / Math.max(1e-9, storedPerS / 1000)).toFixed(3)),
    server_rss_mb: maxRss,
    postgres_cpu_share: Number(((s1.pg - s0.pg) / wall).toFixed(3)),
    links_cpu_share: Number(((s1.links - s0.links) / wall).toFixed(3)),
    results_stored_per_s: Number(storedPerS.toFixed(1)),
    results_sent_per_s: Number((sentInWindow / wall).toFixed(1)),
    results_per_batch: Number((sentInWindow / Math.max(1, (lastAtWindowEnd.batches_sent ?? 0) - batches0)).toFixed(1)),
    link_backlog_at_end: lastAtWindowEnd.backlog ?? 0,
    link_backlog_max: lastAtWindowEnd.max_backlog ?? 0,
    link_connects: lastAtWindowEnd.connects ?? 0,
    link_closes: lastAtWindowEnd.closes ?? {},
    server_log_warnings: Object.fromEntries([...logCounts].sort((a, b) => b[1] - a[1]).slice(0, 8)),
  };
}

const phases: Phase[] = [];
try {
  if (ONLY !== 'new') phases.push(await runPhase('old'));
  if (ONLY !== 'old') phases.push(await runPhase('new'));
  for (const p of phases) console.log(JSON.stringify(p));
  const oldP = phases.find((p) => p.design === 'old');
  const newP = phases.find((p) => p.design === 'new');
  const expected = MONITORS / INTERVAL_S;
  console.log(
    JSON.stringify({
      monitors: MONITORS,
      interval_s: INTERVAL_S,
      results_per_s_scheduled: Number(expected.toFixed(1)),
      ...(newP
        ? {
            new_server_cpu_share: newP.server_cpu_share,
            new_stored_vs_scheduled: Number((newP.results_stored_per_s / expected).toFixed(3)),
            target_under_half_a_core: newP.server_cpu_share < 0.5 ? 'met' : 'NOT met',
          }
        : {}),
      ...(oldP
        ? {
            old_server_cpu_share: oldP.server_cpu_share,
            old_stored_vs_scheduled: Number((oldP.results_stored_per_s / expected).toFixed(3)),
          }
        : {}),
      ...(newP && oldP
        ? {
            ratio_new_to_old_cpu_per_1000_results_s: Number(
              (newP.server_cpu_per_1000_results_s / oldP.server_cpu_per_1000_results_s).toFixed(3),
            ),
            ratio_new_to_old_postgres_cpu: Number(
              (newP.postgres_cpu_share / Math.max(1e-9, oldP.postgres_cpu_share)).toFixed(3),
            ),
          }
        : {}),
    }),
  );
} finally {
  for (const ch of children) ch.kill('SIGKILL');
  await db.stop();
  rmSync(pgDir, { recursive: true, force: true });
}
