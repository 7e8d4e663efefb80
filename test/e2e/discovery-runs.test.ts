import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { discoveryRunEnded, startAgentProcess, waitFor, enrollAgent, waitOnline } from '../helpers/agent-process.ts';

let s: TestServer;
let agent: ReturnType<typeof startAgentProcess>;
before(async () => {
  s = await startTestServer({ discovery: { wait_s: 1 } });
});
after(async () => {
  agent?.child.kill('SIGKILL');
  await s.stop();
});

test('a long discovery answers 202 with a run id, reports progress while it runs, and can be cancelled', {
  timeout: 300_000,
}, async () => {
  const { agentId, home } = await enrollAgent(s, 'big-site');
  agent = startAgentProcess(home);
  await waitOnline(s, agentId);
  const cred = (
    await s.api('POST', '/api/v1/credential-profiles', {
      name: 'big',
      type: 'winrm_ntlm',
      username: 'a',
      password: 'b',
    })
  ).body;
  const profile = async (name: string, target: string) =>
    (
      await s.api('POST', '/api/v1/discovery-profiles', {
        name,
        agent_id: agentId,
        credential_profile_id: cred.id,
        target,
      })
    ).body;
  const dp = await profile('big', '127.90.0.0/16');
  const started = await s.api('POST', `/api/v1/discovery-profiles/${dp.id}/run`);
  assert.equal(started.status, 202);
  assert.equal(started.body.status, 'running');
  const runId = started.body.run_id as string;
  const progressed = await waitFor(
    'progress',
    async () => {
      const r = (await s.api('GET', `/api/v1/discovery-runs/${runId}`)).body;
      return r.scanned > 0 && r.total === 65534 ? r : undefined;
    },
    60_000,
    200,
  );
  assert.ok(progressed.scanned < progressed.total);
  assert.equal((await s.api('POST', `/api/v1/discovery-profiles/${dp.id}/run`)).status, 409, 'one run per profile');
  // Other profiles on the same agent: a second sweep may run alongside, a third is refused by the agent.
  const dp2 = await profile('big-2', '127.91.0.0/16');
  const dp3 = await profile('big-3', '127.92.0.0/16');
  const run2 = (await s.api('POST', `/api/v1/discovery-profiles/${dp2.id}/run`)).body.run_id as string;
  const run3 = (await s.api('POST', `/api/v1/discovery-profiles/${dp3.id}/run`)).body.run_id as string;
  const refused = await discoveryRunEnded(s, 'third run refused', run3, 30_000, 100);
  assert.equal(refused.status, 'failed', 'the third concurrent sweep is refused');
  assert.match(refused.error, /already running 2 discoveries/);
  assert.equal((await s.api('GET', `/api/v1/discovery-runs/${run2}`)).body.status, 'running', 'the second runs');
  assert.equal((await s.api('POST', `/api/v1/discovery-runs/${run2}/cancel`)).status, 200);
  const cancel = await s.api('POST', `/api/v1/discovery-runs/${runId}/cancel`);
  assert.equal(cancel.status, 200);
  const done = await discoveryRunEnded(s, 'cancelled', runId, 60_000);
  assert.equal(done.status, 'cancelled');
  assert.ok(done.scanned < 65534);
  assert.equal((await s.api('GET', `/api/v1/discovery-runs/00000000-0000-4000-8000-000000000000`)).status, 404);
});
