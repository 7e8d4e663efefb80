import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { withTestBackend, forEachBackend } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor, enrollAgent } from '../helpers/agent-process.ts';

const PUMP = fileURLToPath(new URL('./result-pump.mts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const N = 12_000;
forEachBackend((backend) => {
  let s: TestServer;
  let db: pg.Client;
  before(async () => {
    s = await withTestBackend(backend, () => startTestServer());
    db = new pg.Client({ connectionString: s.dbUrl });
    await db.connect();
  });
  after(async () => {
    await db.end();
    await s.stop();
  });

  function pump(args: string[]): { child: ChildProcess; exited: Promise<number | null>; out: string[] } {
    const child = spawn(process.execPath, ['--import', 'tsx', PUMP, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: string[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c.toString()));
    child.stderr!.on('data', (c: Buffer) => out.push(c.toString()));
    return { child, out, exited: new Promise((r) => child.once('exit', (code) => r(code))) };
  }

  const rows = async () => Number((await db.query('SELECT count(*) AS n FROM metrics')).rows[0].n);

  test(`${N} results survive a server restart, a cut socket and an agent SIGKILL, stored exactly once`, async () => {
    const { agentId, home } = await enrollAgent(s, 'zero-loss-site');
    const cred = (
      await s.api('POST', '/api/v1/credential-profiles', {
        name: 'zl',
        type: 'winrm_basic',
        username: 'u',
        password: 'p',
      })
    ).body;
    const monitors: number[] = [];
    for (let i = 0; i < 4; i++) {
      const dev = (await s.api('POST', '/api/v1/devices', { agent_id: agentId, ip: `10.20.0.${i + 1}` })).body;
      // Enabled: the server stores results only for monitors in the agent's assignment set (the pump
      // runs no polls; it replays 50 hours of slots from the past).
      monitors.push(
        (
          await s.api('POST', '/api/v1/monitors', {
            device_id: dev.id,
            credential_profile_id: cred.id,
            plugin_id: 1,
            polling_interval: 60,
          })
        ).body.id,
      );
    }
    const identity = `${home}/identity.json`;
    const spoolDir = `${home}/spool`;

    const first = pump([
      identity,
      spoolDir,
      '--append',
      String(N),
      '--monitors',
      monitors.join(','),
      '--base-ms',
      String(Date.parse('2026-11-20T00:00:00Z')),
      '--interval-ms',
      String(60_000),
    ]);
    // The pump is a tsx process: its start alone can take a while on a loaded machine.
    await waitFor('first rows', async () => (await rows()) >= 1500, 120_000, 20);
    await s.restart(300);
    const afterRestart = await rows();
    await waitFor('rows after the restart', async () => (await rows()) >= afterRestart + 1500, 120_000, 20);
    s.server.hub.closeAgent(agentId, 1012, 'test: connection cut');
    const afterCut = await rows();
    await waitFor('rows after the cut', async () => (await rows()) >= afterCut + 1500, 120_000, 20);
    first.child.kill('SIGKILL');
    await first.exited;
    const atKill = await rows();
    assert.ok(atKill < N, `the kill happened mid-stream (${atKill} of ${N} stored)`);

    const second = pump([identity, spoolDir]);
    const code = await second.exited;
    assert.equal(code, 0, second.out.join(''));
    assert.equal(await rows(), N, 'every result stored');
    const distinct = Number(
      (await db.query('SELECT count(*) AS n FROM (SELECT DISTINCT monitor_id, time FROM metrics) x')).rows[0].n,
    );
    assert.equal(distinct, N, 'and stored once');
    const perMonitor = (
      await db.query('SELECT monitor_id, count(*)::int AS n FROM metrics GROUP BY 1 ORDER BY 1')
    ).rows.map((r) => r.n);
    assert.deepEqual(perMonitor, [N / 4, N / 4, N / 4, N / 4]);
  });
});
