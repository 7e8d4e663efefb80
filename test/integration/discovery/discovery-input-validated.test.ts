import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { apiCredential, connectRaw, enrollRaw, startRawDiscovery } from '../hub/raw-agent.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer({ discovery: { wait_s: 0 } });
});
after(() => s.stop());

const host = (ip: unknown, more: Record<string, unknown> = {}) => ({
  ip,
  port: 5985,
  use_ssl: false,
  hostname: `h-${String(ip).slice(0, 20)}`,
  os: 'Microsoft Windows Server 2022',
  os_version: '10.0.20348',
  winrm_stack: '3.0',
  ...more,
});

test("an agent's discovery result is stored only for IPv4 hosts inside the profile's target with sane fields; the rest is counted and logged, never stored or provisioned", async () => {
  const id = await enrollRaw(s, 'evil-discoverer');
  const agent = await connectRaw(s, id);
  const credId = await apiCredential(s, 'disc-cred', { type: 'winrm_basic', password: 'p-secret-1' });
  const { runId } = await startRawDiscovery(s, agent, {
    name: 'evil',
    agent_id: id.agent_id,
    credential_profile_id: credId,
    target: '10.66.0.0/29',
    auto_provision: true,
  });
  const logsBefore = s.logs.length;
  agent.send({
    type: 'discovery.result',
    run_id: runId,
    scanned: 6,
    total: 6,
    devices: [
      host('10.66.0.2'),
      host('<img src=x onerror=alert(1)>'),
      host('8.8.8.8'),
      host('10.66.0.9'), // just outside the /29
      host('10.66.0.0'), // the network address: not a host the target scans
      host('10.66.0.3', { port: 99999 }),
      host('10.66.0.4', { port: 0 }),
      host('10.66.0.5', { hostname: 'x'.repeat(100_000) }),
      host('10.66.0.6', { os: 'y'.repeat(300) }),
      host('10.66.0.6', { hostname: 'bad\u0000name' }),
      host(' 10.66.0.1'),
      host('10.66.0.1'),
    ],
  });
  let run: any;
  for (let i = 0; i < 100; i++) {
    run = (await s.api('GET', `/api/v1/discovery-runs/${runId}`)).body;
    if (run.status !== 'running') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(run.status, 'completed', JSON.stringify(run));
  assert.deepEqual(run.devices.map((d: { ip: string }) => d.ip).sort(), ['10.66.0.1', '10.66.0.2']);
  assert.equal(run.provisioned_monitors, 2);
  const stored = (await s.api('GET', `/api/v1/devices?agent_id=${id.agent_id}`)).body as {
    ip: string;
    hostname: string | null;
  }[];
  assert.deepEqual(stored.map((d) => d.ip).sort(), ['10.66.0.1', '10.66.0.2'], 'nothing refused is stored');
  const monitors = (
    await s.server.pool.query(
      'SELECT count(*)::int AS n FROM monitors m JOIN devices d ON d.id = m.device_id WHERE d.agent_id = $1',
      [id.agent_id],
    )
  ).rows[0].n;
  assert.equal(monitors, 2, 'nor provisioned');
  const lines = s.logs
    .slice(logsBefore)
    .filter((l) => l.includes('hosts outside the target or malformed were refused'));
  assert.equal(lines.length, 1, 'one log line per result, not one per host');
  const line = JSON.parse(lines[0]!);
  assert.equal(line.refused, 10);
  assert.equal(line.accepted, 2);
  assert.deepEqual(line.reasons, { outside_target: 5, bad_port: 2, bad_hostname: 2, bad_os: 1 });
  assert.ok(!lines[0]!.includes('onerror') && lines[0]!.length < 1000, 'the refused values are not logged');
  agent.close();
});

test('discovery targets the agent refuses or nobody should scan are a 400 naming the field and the reason', async () => {
  const id = await enrollRaw(s, 'target-checks');
  const credId = await apiCredential(s, 'target-cred', { type: 'winrm_basic' });
  const cases: [string, RegExp][] = [
    ['10.0.0.0/16/16', /not a valid IPv4 CIDR/],
    ['0.0.0.0/16', /0\.0\.0\.0\/8/],
    ['224.0.0.0/24', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['169.254.169.254', /link-local.*metadata/],
    ['10.1.1.1, 169.254.0.0/16', /169\.254/],
  ];
  for (const [target, re] of cases) {
    const r = await s.api('POST', '/api/v1/discovery-profiles', {
      name: `t-${target}`,
      agent_id: id.agent_id,
      credential_profile_id: credId,
      target,
    });
    assert.equal(r.status, 400, `${target}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.details.field, 'target', target);
    assert.match(r.body.error.message, /^target: /, target);
    assert.match(r.body.error.details.reason, re, target);
  }
  const ok = await s.api('POST', '/api/v1/discovery-profiles', {
    name: 't-ok',
    agent_id: id.agent_id,
    credential_profile_id: credId,
    target: '127.0.0.1-5',
  });
  assert.equal(ok.status, 201, 'loopback and the short range form are fine');
  const upd = await s.api('PUT', `/api/v1/discovery-profiles/${ok.body.id}`, { target: '169.254.169.254' });
  assert.equal(upd.status, 400, 'an update too');
  // A profile stored before these rules is refused when run, not scanned.
  await s.server.pool.query("UPDATE discovery_profiles SET target = '169.254.169.254' WHERE id = $1", [ok.body.id]);
  const run = await s.api('POST', `/api/v1/discovery-profiles/${ok.body.id}/run`);
  assert.equal(run.status, 400);
  assert.match(run.body.error.message, /^target: .*link-local/);
});
