import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { startAgentProcess, enrollAgent, waitOnline } from '../../helpers/agent-process.ts';
import { startWinsim, type Winsim } from '../../winsim/index.ts';

const PASSWORD = 'PollNow-Pass-1';
let s: TestServer;
let sim: Winsim;
let agent: ReturnType<typeof startAgentProcess> | undefined;

before(async () => {
  s = await startTestServer();
  sim = await startWinsim({ hosts: 1, portBase: 0, password: PASSWORD, auth: 'ntlm', seed: 11 });
});
after(async () => {
  agent?.child.kill('SIGKILL');
  await sim?.stop();
  await s?.stop();
});

test("a monitor polled on demand through the real agent answers with the host's metrics, or the auth failure with a wrong password, and stores nothing", async () => {
  const { agentId, home } = await enrollAgent(s, 'poll-now-site');
  agent = startAgentProcess(home);
  await waitOnline(s, agentId, true, 20_000);

  const host = sim.hosts[0]!;
  const good = (
    await s.api('POST', '/api/v1/credential-profiles', {
      name: 'pn-good',
      type: 'winrm_ntlm',
      username: host.user,
      password: PASSWORD,
    })
  ).body;
  const bad = (
    await s.api('POST', '/api/v1/credential-profiles', {
      name: 'pn-bad',
      type: 'winrm_ntlm',
      username: host.user,
      password: 'wrong-password',
    })
  ).body;
  const dev = (await s.api('POST', '/api/v1/devices', { agent_id: agentId, ip: host.address, port: host.port })).body;
  // Disabled: never scheduled, so any row would have come from the on-demand poll.
  const mon = (
    await s.api('POST', '/api/v1/monitors', {
      device_id: dev.id,
      credential_profile_id: good.id,
      plugin_id: 1,
      polling_interval: 60,
      enabled: false,
    })
  ).body;
  const r = await s.api('POST', `/api/v1/monitors/${mon.id}/poll`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.ok, true, JSON.stringify(r.body));
  assert.equal(r.body.metrics.memory.total_bytes, host.truth().memoryTotalKb * 1024, "the host's true memory");
  assert.ok(r.body.metrics.process_count > 0);

  await s.api('PUT', `/api/v1/monitors/${mon.id}`, { credential_profile_id: bad.id });
  const f = await s.api('POST', `/api/v1/monitors/${mon.id}/poll`);
  assert.equal(f.body.ok, false);
  assert.equal(f.body.failure.class, 'auth', JSON.stringify(f.body));

  const db = new pg.Client({ connectionString: s.dbUrl });
  await db.connect();
  try {
    assert.equal(
      (await db.query('SELECT count(*)::int AS n FROM metrics WHERE monitor_id = $1', [mon.id])).rows[0].n,
      0,
      'nothing stored',
    );
    const state = (
      await db.query('SELECT last_polled, last_error, consecutive_failures FROM monitors WHERE id = $1', [mon.id])
    ).rows[0];
    assert.deepEqual(
      state,
      { last_polled: null, last_error: null, consecutive_failures: 0 },
      'monitor state untouched',
    );
  } finally {
    await db.end();
  }
});
