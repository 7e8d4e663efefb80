import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { waitFor } from '../../helpers/agent-process.ts';
import { connectRaw, enrollRaw } from '../hub/raw-agent.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer({ polling: { grace_s: 1 } });
});
after(() => s.stop());

async function monitorOn(agentId: number, ip: string, name: string): Promise<{ id: number; device: number }> {
  const cred = (
    await s.api('POST', '/api/v1/credential-profiles', { name, type: 'winrm_basic', username: 'u', password: 'p' })
  ).body;
  const dev = (await s.api('POST', '/api/v1/devices', { agent_id: agentId, ip })).body;
  const mon = (
    await s.api('POST', '/api/v1/monitors', {
      device_id: dev.id,
      credential_profile_id: cred.id,
      plugin_id: 1,
      polling_interval: 10,
    })
  ).body;
  return { id: mon.id, device: dev.id };
}

test('an assigned monitor without results is marked agent_offline when its agent is away and timeout when it is connected, without counting against the host', {
  timeout: 60_000,
}, async () => {
  const away = await enrollRaw(s, 'expect-away');
  const here = await enrollRaw(s, 'expect-here');
  const a = await monitorOn(away.agent_id, '10.44.0.1', 'exp-a');
  const b = await monitorOn(here.agent_id, '10.44.0.2', 'exp-b');
  const agent = await connectRaw(s, here);
  await agent.next('schedule.full', (m) => !m.more);
  const classOf = async (id: number) =>
    (await s.api('GET', `/api/v1/monitors/${id}`)).body.last_error_class as string | null;
  await waitFor('both marked', async () => (await classOf(a.id)) && (await classOf(b.id)), 40_000, 250);
  assert.equal(await classOf(a.id), 'agent_offline');
  assert.equal(await classOf(b.id), 'timeout');
  for (const m of [a, b]) {
    const mon = (await s.api('GET', `/api/v1/monitors/${m.id}`)).body;
    assert.equal(mon.consecutive_failures, 0, 'a missing result says nothing about the host');
    assert.equal((await s.api('GET', `/api/v1/devices/${m.device}`)).body.status, 'active');
  }
  agent.close();
});
