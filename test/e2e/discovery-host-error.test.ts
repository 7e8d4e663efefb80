import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { discoveryRunEnded, startAgentProcess, enrollAgent, waitOnline } from '../helpers/agent-process.ts';
import { startWinsim, type Winsim } from '../winsim/index.ts';
import { parseTarget } from '../../shared/targets.ts';

// Issue 14 #2: the server and the agent count a target with one parser, and the error a host gave
// the agent's authenticated query (a wrong password) is what the API shows for that host.
const NET = '127.89.0';
const PASSWORD = 'Right-Pass-89';
const WRONG = 'Wr0ng-Pass-89!';
let s: TestServer;
let sim: Winsim;
let agent: ReturnType<typeof startAgentProcess> | undefined;

before(async () => {
  s = await startTestServer({ discovery: { wait_s: 0 } });
  sim = await startWinsim({
    hosts: 2,
    bind: `${NET}.1`,
    distinctAddresses: true,
    portBase: 5985,
    password: PASSWORD,
    auth: 'ntlm',
    seed: 89,
  });
});
after(async () => {
  agent?.child.kill('SIGKILL');
  await sim?.stop();
  await s?.stop();
});

test('a short-form range with an overlap is counted as the agent counts it, and a wrong password shows as each host’s authentication error', {
  timeout: 360_000,
}, async () => {
  const { agentId, home } = await enrollAgent(s, 'host-errors');
  agent = startAgentProcess(home);
  await waitOnline(s, agentId);

  const cred = (
    await s.api('POST', '/api/v1/credential-profiles', {
      name: 'wrong-password',
      type: 'winrm_ntlm',
      username: 'Administrator',
      password: WRONG,
    })
  ).body;
  // The short form (…1-50) and an overlap (…40-60): 60 addresses, each once.
  const target = `${NET}.1-50, ${NET}.40-60`;
  const dp = await s.api('POST', '/api/v1/discovery-profiles', {
    name: 'short-form',
    agent_id: agentId,
    credential_profile_id: cred.id,
    target,
    authenticate_unverified: true,
  });
  assert.equal(dp.status, 201, JSON.stringify(dp.body));
  assert.equal(parseTarget(target).count, 60);

  const started = await s.api('POST', `/api/v1/discovery-profiles/${dp.body.id}/run`);
  assert.ok(started.status === 200 || started.status === 202, JSON.stringify(started.body));
  assert.equal(started.body.total, 60, 'the server counts the target as the agent will, before the agent reports');
  const runId = started.body.run_id as string;
  const run = await discoveryRunEnded(s, 'discovery finished', runId, 120_000);
  assert.equal(run.status, 'completed', JSON.stringify(run));
  assert.deepEqual([run.scanned, run.total], [60, 60], "the agent's count is the server's");
  assert.deepEqual(
    run.devices.map((d: { ip: string }) => d.ip),
    sim.hosts.map((h) => h.address),
  );
  for (const d of run.devices) {
    assert.equal(d.discovery_error?.class, 'auth', JSON.stringify(d));
    assert.match(d.discovery_error.message, /rejected the credentials/);
    assert.equal(d.os, null, 'nothing was read with the wrong password');
    const shown = (await s.api('GET', `/api/v1/devices/${d.id}`)).body;
    assert.deepEqual(shown.discovery_error, d.discovery_error, 'the device keeps it');
  }
  const body = JSON.stringify(run);
  assert.ok(!body.includes(WRONG) && !body.includes(PASSWORD), 'no secret in the answer');

  // With the right password a new run clears the error.
  assert.equal((await s.api('PUT', `/api/v1/credential-profiles/${cred.id}`, { password: PASSWORD })).status, 200);
  const again = (await s.api('POST', `/api/v1/discovery-profiles/${dp.body.id}/run`)).body.run_id as string;
  const fixed = await discoveryRunEnded(s, 'second discovery finished', again, 120_000);
  assert.equal(fixed.status, 'completed', JSON.stringify(fixed));
  for (const d of fixed.devices) {
    assert.equal(d.discovery_error, null, JSON.stringify(d));
    assert.match(d.os ?? '', /Windows/);
  }
});
