import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startAgentProcess, enrollAgent, waitOnline } from '../helpers/agent-process.ts';
import { startWinsim, type Winsim } from '../winsim/index.ts';

// Two sites reuse the same private addresses; here both agents see the same simulated hosts.
const NET = '127.67.0';
let s: TestServer;
let sim: Winsim;
const agents: ReturnType<typeof startAgentProcess>[] = [];
before(async () => {
  s = await startTestServer();
  sim = await startWinsim({
    hosts: 3,
    bind: `${NET}.1`,
    distinctAddresses: true,
    portBase: 5985,
    password: 'Two-Sites-1',
    auth: 'ntlm',
    seed: 31,
  });
});
after(async () => {
  for (const a of agents) a.child.kill('SIGKILL');
  await sim.stop();
  await s.stop();
});

test('the same private IP discovered by two agents gives two devices, one per site', { timeout: 300_000 }, async () => {
  const cred = (
    await s.api('POST', '/api/v1/credential-profiles', {
      name: 'two',
      type: 'winrm_ntlm',
      username: 'Administrator',
      password: 'Two-Sites-1',
    })
  ).body;
  const runs = [];
  for (const site of ['site-north', 'site-south']) {
    const { agentId, home } = await enrollAgent(s, site);
    agents.push(startAgentProcess(home));
    await waitOnline(s, agentId);
    const dp = (
      await s.api('POST', '/api/v1/discovery-profiles', {
        name: `${site}-scan`,
        agent_id: agentId,
        credential_profile_id: cred.id,
        target: `${NET}.1-${NET}.3`,
      })
    ).body;
    runs.push({ agentId, dp: dp.id as number });
  }
  const results = await Promise.all(runs.map((r) => s.api('POST', `/api/v1/discovery-profiles/${r.dp}/run`)));
  for (const r of results) assert.equal(r.body.found, 3);
  const devices = (await s.api('GET', '/api/v1/devices')).body as { agent_id: number; ip: string }[];
  assert.equal(devices.length, 6);
  for (const r of runs)
    assert.deepEqual(
      devices
        .filter((d) => d.agent_id === r.agentId)
        .map((d) => d.ip)
        .sort(),
      sim.hosts.map((h) => h.address).sort(),
    );
});
