/**
 * Fleet: the whole system — server (this process, embedded PostgreSQL), one agent process, and
 * 2,000 simulated Windows hosts (child process, NTLM + message encryption over HTTP) polled every
 * 60 s. Reports polls stored vs the schedule, the agent runner's start lateness (from its own
 * health reports), the agent's RSS, and server CPU. Baseline in the same run: the polls the
 * schedule asks for, and the server's CPU while idle with the same monitors but the agent stopped.
 *   npx tsx bench/fleet.mts [--hosts 2000] [--seconds 150]
 */
import pg from 'pg';
import { startTestServer } from '../test/helpers/server.ts';
import { enrollAgent, startAgentProcess, waitOnline } from '../test/helpers/agent-process.ts';
import { spawnWinsimCli } from '../test/e2e/edge-fixtures.ts';

const arg = (n: string, d: number) =>
  process.argv.includes(`--${n}`) ? Number(process.argv[process.argv.indexOf(`--${n}`) + 1]) : d;
const HOSTS = arg('hosts', 2000);
const SECONDS = arg('seconds', 150);

const { child: sim, hosts } = await spawnWinsimCli(
  HOSTS,
  ['--bind', '127.70.0.1', '--distinct-addresses', '--auth', 'ntlm', '--password', 'Fleet-Pass-1'],
  { stderr: 'inherit' },
);
const s = await startTestServer({ polling: { job_timeout_s: 30, grace_s: 15 } });
const db = new pg.Client({ connectionString: s.dbUrl });
await db.connect();
try {
  const { agentId, home } = await enrollAgent(s, 'fleet');
  const cred = (
    await s.api('POST', '/api/v1/credential-profiles', {
      name: 'fleet',
      type: 'winrm_ntlm',
      username: 'Administrator',
      password: 'Fleet-Pass-1',
    })
  ).body;
  for (const h of hosts) {
    const dev = (await s.api('POST', '/api/v1/devices', { agent_id: agentId, ip: h.address, port: h.port })).body;
    await s.api('POST', '/api/v1/monitors', {
      device_id: dev.id,
      credential_profile_id: cred.id,
      plugin_id: 1,
      polling_interval: 60,
      enabled: false,
    });
  }
  // Baseline: server CPU with every monitor scheduled but no agent connected (offline marking only).
  await db.query('UPDATE monitors SET enabled = true');
  await s.restart();
  let c0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, 20_000));
  let c = process.cpuUsage(c0);
  const idleCpu = (c.user + c.system) / 1000 / 20_000;

  const agent = startAgentProcess(home, ['--log-level', 'warn', '--max-concurrent', '1000']);
  await waitOnline(s, agentId, true, 30_000);
  await db.query('TRUNCATE metrics');
  c0 = process.cpuUsage();
  const t0 = Date.now();
  let maxRss = 0;
  let maxLate = 0;
  while (Date.now() - t0 < SECONDS * 1000) {
    await new Promise((r) => setTimeout(r, 5000));
    const h = (await s.api('GET', `/api/v1/agents/${agentId}`)).body.health ?? {};
    maxRss = Math.max(maxRss, h.rss_bytes ?? 0);
    if (Date.now() - t0 > 65_000) maxLate = Math.max(maxLate, h.job_lateness_ms ?? 0);
  }
  c = process.cpuUsage(c0);
  const wall = Date.now() - t0;
  const stored = Number((await db.query('SELECT count(*) AS n FROM metrics')).rows[0].n);
  const failed = Object.fromEntries(
    (
      await db.query(
        'SELECT last_error_class AS c, count(*)::int AS n FROM monitors WHERE last_error_at > $1 GROUP BY 1',
        [new Date(t0)],
      )
    ).rows.map((r) => [r.c, r.n]),
  );
  const expected = Math.round((HOSTS * wall) / 60_000);
  console.log(
    JSON.stringify({
      hosts: HOSTS,
      seconds: Math.round(wall / 1000),
      polls_stored: stored,
      polls_scheduled: expected,
      stored_vs_schedule: Number((stored / expected).toFixed(3)),
      monitors_with_errors_during_run_by_class: failed,
      agent_max_start_lateness_ms_after_first_minute: maxLate,
      agent_rss_mb: Math.round(maxRss / 1048576),
      server_cpu_share_of_one_core: Number(((c.user + c.system) / 1000 / wall).toFixed(3)),
      server_cpu_idle_baseline: Number(idleCpu.toFixed(3)),
    }),
  );
  agent.child.kill('SIGTERM');
} finally {
  await db.end();
  await s.stop();
  sim.kill('SIGTERM');
}
