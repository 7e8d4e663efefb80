import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startAgentProcess, waitFor, enrollAgent, waitOnline } from '../helpers/agent-process.ts';
import { startWinsim, type Winsim } from '../winsim/index.ts';

let s: TestServer;
let sim: Winsim;
let agent: ReturnType<typeof startAgentProcess> | undefined;
before(async () => {
  s = await startTestServer({
    health: { failure_threshold: 2, window_s: 600 },
    polling: { job_timeout_s: 5, grace_s: 3 },
  });
  sim = await startWinsim({ hosts: 1, portBase: 0, auth: 'ntlm', password: 'Health-Pass-1', seed: 9 });
});
after(async () => {
  agent?.child.kill('SIGKILL');
  await sim.stop();
  await s.stop();
});

test('a host that stops answering is marked inactive after the threshold, is no longer polled, and comes back when reactivated', async () => {
  const { agentId, home } = await enrollAgent(s, 'health-site');
  agent = startAgentProcess(home);
  await waitOnline(s, agentId);
  const h = sim.hosts[0]!;
  const cred = (
    await s.api('POST', '/api/v1/credential-profiles', {
      name: 'health',
      type: 'winrm_ntlm',
      username: h.user,
      password: h.password,
      port: h.port,
    })
  ).body;
  const dev = (await s.api('POST', '/api/v1/devices', { agent_id: agentId, ip: h.address, port: h.port })).body;
  const mon = (
    await s.api('POST', '/api/v1/monitors', {
      device_id: dev.id,
      credential_profile_id: cred.id,
      plugin_id: 1,
      polling_interval: 10,
    })
  ).body;
  await waitFor(
    'first success',
    async () => (await s.api('GET', `/api/v1/monitors/${mon.id}`)).body.last_polled,
    120_000,
    300,
  );

  await h.setFault({ portClosed: true });
  const inactive = await waitFor(
    'device inactive',
    async () => {
      const d = (await s.api('GET', `/api/v1/devices/${dev.id}`)).body;
      return d.status === 'inactive' ? d : undefined;
    },
    120_000,
    300,
  );
  assert.equal(inactive.status, 'inactive');
  const m = (await s.api('GET', `/api/v1/monitors/${mon.id}`)).body;
  assert.equal(m.last_error_class, 'unreachable');
  assert.ok(m.consecutive_failures >= 2);

  // The agent learns of it by a schedule change; a poll it had already started may still report.
  // Wait until it holds no monitor and has nothing running or unsent, then watch over a whole interval.
  await waitFor(
    'the agent dropped the monitor and has no poll in flight or unsent',
    async () => {
      const hl = (await s.api('GET', `/api/v1/agents/${agentId}`)).body.health;
      return hl?.monitors_assigned === 0 && hl.jobs_in_flight === 0 && !hl.jobs_queued && hl.spool_backlog === 0;
    },
    60_000,
    300,
  );
  const attempted = (await s.api('GET', `/api/v1/monitors/${mon.id}`)).body.last_attempted;
  await new Promise((r) => setTimeout(r, 12_000));
  assert.equal(
    (await s.api('GET', `/api/v1/monitors/${mon.id}`)).body.last_attempted,
    attempted,
    'an inactive device is not polled',
  );

  await h.setFault({ portClosed: false });
  const before = (await s.api('GET', `/api/v1/monitors/${mon.id}`)).body.last_polled;
  assert.equal((await s.api('PUT', `/api/v1/devices/${dev.id}`, { status: 'active' })).body.status, 'active');
  await waitFor(
    'polling resumes',
    async () => {
      const r = (await s.api('GET', `/api/v1/monitors/${mon.id}`)).body;
      return r.last_polled !== before && r.consecutive_failures === 0;
    },
    120_000,
    300,
  );
});
