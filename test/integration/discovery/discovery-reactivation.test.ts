import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { apiCredential, connectRaw, enrollRaw, type RawAgent, startRawDiscovery } from '../hub/raw-agent.ts';

const THRESHOLD = 3;
let s: TestServer;
before(async () => {
  s = await startTestServer({ discovery: { wait_s: 0 }, health: { failure_threshold: THRESHOLD, window_s: 600 } });
});
after(() => s.stop());

const until = async <T>(what: string, f: () => Promise<T | undefined>, ms = 10_000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

let seq = 0;
/** The agent reports THRESHOLD authentication failures: the health monitor marks the device inactive. */
async function failUntilInactive(agent: RawAgent, deviceId: number, monitorId: number): Promise<void> {
  // Results count only for monitors in the agent's assignment set.
  await until('the monitor assigned', async () => (agent.held().has(monitorId) ? true : undefined));
  const results = Array.from({ length: THRESHOLD }, (_, i) => ({
    seq: ++seq,
    job_id: `f${seq}`,
    monitor_id: monitorId,
    time: new Date(Date.now() - (THRESHOLD - i) * 1000).toISOString(),
    attempts: 1,
    failure: { class: 'auth', message: 'access denied' },
  }));
  const from = agent.messages.length;
  agent.send({ type: 'results.batch', results });
  await agent.next('results.ack', (m) => m.seqs.includes(seq), 10_000, from);
  await until('device inactive', async () => {
    const d = (await s.api('GET', `/api/v1/devices/${deviceId}`)).body;
    return d.status === 'inactive' ? d : undefined;
  });
  assert.equal((await s.api('GET', `/api/v1/monitors/${monitorId}`)).body.consecutive_failures, THRESHOLD);
}

test('a device reactivated by discovery starts its failure count again, as one reactivated by hand does', async () => {
  const id = await enrollRaw(s, 'reactivating-site');
  const agent = await connectRaw(s, id);
  const credId = await apiCredential(s, 'react-cred', { type: 'winrm_basic', password: 'p-secret-1' });
  const setUp = async (ip: string) => {
    const dev = await s.api('POST', '/api/v1/devices', { agent_id: id.agent_id, ip });
    assert.equal(dev.status, 201, JSON.stringify(dev.body));
    const mon = await s.api('POST', '/api/v1/monitors', {
      device_id: dev.body.id,
      credential_profile_id: credId,
      plugin_id: 1,
      polling_interval: 60,
    });
    assert.equal(mon.status, 201, JSON.stringify(mon.body));
    await failUntilInactive(agent, dev.body.id, mon.body.id);
    return { device: dev.body.id as number, monitor: mon.body.id as number };
  };
  const byHand = await setUp('10.67.0.2');
  const byDiscovery = await setUp('10.67.0.3');

  const put = await s.api('PUT', `/api/v1/devices/${byHand.device}`, { status: 'active' });
  assert.equal(put.status, 200, JSON.stringify(put.body));

  const { runId } = await startRawDiscovery(s, agent, {
    name: 'react',
    agent_id: id.agent_id,
    credential_profile_id: credId,
    target: '10.67.0.0/29',
  });
  agent.send({
    type: 'discovery.result',
    run_id: runId,
    scanned: 6,
    total: 6,
    devices: [
      {
        ip: '10.67.0.3',
        port: 5985,
        use_ssl: false,
        hostname: 'REACT3',
        os: 'Microsoft Windows Server 2022',
        os_version: '10.0.20348',
        winrm_stack: '3.0',
      },
    ],
  });
  const run = await until('run finished', async () => {
    const r = (await s.api('GET', `/api/v1/discovery-runs/${runId}`)).body;
    return r.status === 'running' ? undefined : r;
  });
  assert.equal(run.status, 'completed', JSON.stringify(run));
  assert.deepEqual(
    run.devices.map((d: { id: number; status: string }) => [d.id, d.status]),
    [[byDiscovery.device, 'active']],
  );

  for (const [how, x] of [
    ['by hand', byHand],
    ['by discovery', byDiscovery],
  ] as const) {
    const d = (await s.api('GET', `/api/v1/devices/${x.device}`)).body;
    const m = (await s.api('GET', `/api/v1/monitors/${x.monitor}`)).body;
    assert.deepEqual(
      { status: d.status, consecutive_failures: m.consecutive_failures },
      { status: 'active', consecutive_failures: 0 },
      `reactivated ${how}`,
    );
  }
  // Both reactivations are audited the same way: one status change from inactive to active.
  const audit = await s.server.pool.query(
    `SELECT entity_id, changes->'status' AS status FROM audit_log
      WHERE entity_type = 'device' AND action = 'update' AND entity_id = ANY($1::int[]) AND changes->'status'->>'to' = 'active'
      ORDER BY entity_id`,
    [[byHand.device, byDiscovery.device]],
  );
  assert.deepEqual(
    audit.rows.map((r) => [r.entity_id, r.status]),
    [
      [byHand.device, { from: 'inactive', to: 'active' }],
      [byDiscovery.device, { from: 'inactive', to: 'active' }],
    ],
  );
  agent.close();
});
