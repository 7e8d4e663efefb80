/**
 * The agent single executable: start time of `--version` and idle RSS of `run` (connected to a live
 * server, no jobs), against an empty Node single executable built in the same run (the runtime's own
 * floor: a SEA whose script only keeps the event loop alive).
 *   npx tsx bench/agent-binary.mts [--idle-seconds 20] [--no-build]
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startTestServer } from '../test/helpers/server.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const IDLE_S = process.argv.includes('--idle-seconds')
  ? Number(process.argv[process.argv.indexOf('--idle-seconds') + 1])
  : 20;
const dir = mkdtempSync('/tmp/nmslite-bench-sea-');
chmodSync(dir, 0o755);

if (!process.argv.includes('--no-build'))
  execFileSync(process.execPath, ['--import', 'tsx', 'agent/build/build-sea.ts', '--only', 'linux-x64'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
const agentBin = join(dir, 'nmslite-agent');
copyFileSync(join(ROOT, 'dist/nmslite-agent-linux-x64'), agentBin);

// Baseline: an empty SEA on the same node binary.
const emptyJs = join(dir, 'empty.cjs');
writeFileSync(emptyJs, "if (process.argv[2] === '--version') console.log('0'); else setInterval(() => {}, 1000);\n");
writeFileSync(
  join(dir, 'sea.json'),
  JSON.stringify({ main: emptyJs, output: join(dir, 'empty.blob'), disableExperimentalSEAWarning: true }),
);
execFileSync(process.execPath, ['--experimental-sea-config', join(dir, 'sea.json')], { stdio: 'ignore' });
const emptyBin = join(dir, 'empty-sea');
copyFileSync(process.execPath, emptyBin);
chmodSync(emptyBin, 0o755);
execFileSync(
  join(ROOT, 'node_modules/.bin/postject'),
  [
    emptyBin,
    'NODE_SEA_BLOB',
    join(dir, 'empty.blob'),
    '--sentinel-fuse',
    'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
  ],
  { stdio: 'ignore' },
);

async function startMs(bin: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 11; i++) {
    const t0 = performance.now();
    await run(bin, ['--version'], { cwd: dir });
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[5]!;
}
const rssMb = (pid: number): number =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

async function idleRss(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: () => Promise<boolean>,
): Promise<{ max: number; last: number }> {
  const child = spawn(bin, args, { cwd: dir, env, stdio: 'ignore' });
  try {
    for (let i = 0; i < 200 && !(await ready()); i++) await new Promise((r) => setTimeout(r, 100));
    let max = 0;
    let last = 0;
    for (let s = 0; s < IDLE_S; s++) {
      await new Promise((r) => setTimeout(r, 1000));
      last = rssMb(child.pid!);
      max = Math.max(max, last);
    }
    return { max, last };
  } finally {
    child.kill('SIGTERM');
  }
}

const server = await startTestServer();
try {
  const created = await server.api('POST', '/api/v1/agents', { name: 'bench-sea' });
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir };
  await run(
    agentBin,
    [
      'enroll',
      '--server',
      `wss://127.0.0.1:${server.port}`,
      '--token',
      created.body.enrollment_token,
      '--home',
      `${dir}/state`,
    ],
    { cwd: dir, env },
  );
  const baseStart = await startMs(emptyBin);
  const agentStart = await startMs(agentBin);
  const base = await idleRss(emptyBin, [], env, async () => true);
  const online = async () => Boolean((await server.api('GET', `/api/v1/agents/${created.body.agent.id}`)).body.online);
  const agent = await idleRss(agentBin, ['run', '--home', `${dir}/state`], env, online);
  console.log(
    JSON.stringify({
      start_ms: Math.round(agentStart),
      empty_sea_start_ms: Math.round(baseStart),
      start_ratio: Number((agentStart / baseStart).toFixed(2)),
      idle_rss_mb: Number(agent.max.toFixed(1)),
      empty_sea_rss_mb: Number(base.max.toFixed(1)),
      rss_ratio: Number((agent.max / base.max).toFixed(2)),
      targets: { start_ms: 300, idle_rss_mb: 60 },
    }),
  );
} finally {
  await server.stop();
}
