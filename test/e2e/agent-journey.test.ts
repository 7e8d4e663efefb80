import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, readFileSync } from 'node:fs';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { agentHome, runAgentCommand, startAgentProcess, waitFor, waitOnline } from '../helpers/agent-process.ts';
import { startWinsim, type Winsim } from '../winsim/index.ts';

const FROZEN = Date.parse('2026-11-23T12:00:00Z');
const NET = '127.88.0';
const PASSWORD = 'Winsim-Journey-Pass1';
let s: TestServer;
let sim: Winsim;
let home: string;
let agent: ReturnType<typeof startAgentProcess> | undefined;

before(async () => {
  s = await startTestServer({ discovery: { wait_s: 60 } });
  sim = await startWinsim({
    hosts: 3,
    bind: `${NET}.1`,
    distinctAddresses: true,
    portBase: 5985,
    password: PASSWORD,
    auth: 'ntlm',
    seed: 5,
    clock: () => FROZEN,
  });
  home = agentHome();
});
after(async () => {
  agent?.child.kill('SIGKILL');
  await sim?.stop();
  await s?.stop();
});

test('an agent enrolls once with its one-time token and pins the server certificate', async () => {
  const created = await s.api('POST', '/api/v1/agents', { name: 'site-journey' });
  const token = created.body.enrollment_token as string;
  // The token from the environment, not the command line (which any local user can read in ps).
  const missing = await runAgentCommand([
    'enroll',
    '--server',
    `wss://127.0.0.1:${s.port}`,
    '--token-env',
    'NMSLITE_TEST_NO_SUCH_VAR',
    '--home',
    home,
  ]);
  assert.match(missing.stderr, /NMSLITE_TEST_NO_SUCH_VAR is not set/, 'a missing variable is named');
  const r = await runAgentCommand(
    ['enroll', '--server', `wss://127.0.0.1:${s.port}`, '--token-env', 'ENROLL_TOKEN', '--home', home],
    { ENROLL_TOKEN: token },
  );
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.agent_id, created.body.agent.id);
  assert.equal(out.server_fingerprint, s.server.fingerprint);
  assert.equal(statSync(`${home}/identity.json`).mode & 0o777, 0o600);
  assert.ok(!readFileSync(`${home}/identity.json`, 'utf8').includes(token), 'the token is not kept');

  const again = await runAgentCommand([
    'enroll',
    '--server',
    `wss://127.0.0.1:${s.port}`,
    '--token',
    token,
    '--home',
    agentHome(),
  ]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /enrollment refused \(HTTP 401\): the enrollment token is not valid/);
  const forged = await runAgentCommand([
    'enroll',
    '--server',
    `wss://127.0.0.1:${s.port}`,
    '--token',
    'nmse_forgedforgedforgedforged',
    '--home',
    agentHome(),
  ]);
  assert.match(forged.stderr, /not valid/);
  const wrongPin = await runAgentCommand([
    'enroll',
    '--server',
    `wss://127.0.0.1:${s.port}`,
    '--token',
    token,
    '--fingerprint',
    'ab'.repeat(32),
    '--home',
    agentHome(),
  ]);
  assert.match(wrongPin.stderr, /certificate changed|refusing/);
  assert.equal((await s.api('GET', `/api/v1/agents/${out.agent_id}`)).body.status, 'active');
});

test("the running agent connects, discovery finds the Windows hosts, monitors produce the hosts' true metrics", async () => {
  agent = startAgentProcess(home);
  const agentId = JSON.parse(readFileSync(`${home}/identity.json`, 'utf8')).agent_id as number;
  await waitOnline(s, agentId);
  // Presence is written after the session joins (online comes first): wait for the write to land.
  const a = await waitFor(
    'presence: version and hostname recorded',
    async () => {
      const b = (await s.api('GET', `/api/v1/agents/${agentId}`)).body;
      return b.version && b.hostname ? b : undefined;
    },
    30_000,
  );
  assert.ok(a.version && a.hostname, 'presence: version and hostname recorded');

  const cred = (
    await s.api('POST', '/api/v1/credential-profiles', {
      name: 'journey-cred',
      type: 'winrm_ntlm',
      username: 'Administrator',
      password: PASSWORD,
    })
  ).body;
  // Over HTTP the credential goes to discovered hosts only with the profile's opt-in (issue 13, finding 4): a lab on loopback.
  const dp = (
    await s.api('POST', '/api/v1/discovery-profiles', {
      name: 'journey-office',
      agent_id: agentId,
      credential_profile_id: cred.id,
      target: `${NET}.1-${NET}.6`,
      auto_provision: true,
      polling_interval: 10,
      authenticate_unverified: true,
    })
  ).body;
  const run = await s.api('POST', `/api/v1/discovery-profiles/${dp.id}/run`);
  assert.equal(run.status, 200, JSON.stringify(run.body));
  assert.equal(run.body.status, 'completed');
  assert.equal(run.body.found, 3);
  assert.deepEqual(
    run.body.devices.map((d: { hostname: string }) => d.hostname.toUpperCase()).sort(),
    sim.hosts.map((h) => h.hostname.toUpperCase()).sort(),
  );
  assert.equal(run.body.provisioned_monitors, 3);
  assert.ok(run.body.devices.every((d: { os: string | null }) => /Windows Server/.test(d.os ?? '')));

  const monitors = (await s.api('GET', '/api/v1/monitors')).body as { id: number; device_id: number }[];
  assert.equal(monitors.length, 3);
  const host = sim.hosts[0]!;
  const device = run.body.devices.find((d: { ip: string }) => d.ip === host.address);
  const mon = monitors.find((m) => m.device_id === device.id)!;
  const latest = await waitFor(
    'first metrics',
    async () => {
      const r = await s.api('GET', `/api/v1/monitors/${mon.id}/metrics`);
      return r.status === 200 ? r.body : undefined;
    },
    120_000,
    500,
  );
  const truth = host.truth().sample;
  assert.equal(latest.memory.total_bytes, truth.memory_total);
  assert.equal(latest.memory.used_bytes, truth.memory_used);
  assert.equal(latest.disk.total_bytes, truth.disk_total);
  assert.equal(latest.disk.used_bytes, truth.disk_used);
  assert.equal(latest.process_count, truth.process_count);
  assert.ok(Math.abs(latest.cpu.usage_percent - truth.cpu_percent!) < 0.01);
  assert.ok(Math.abs(latest.memory.usage_percent - (truth.memory_used! / truth.memory_total!) * 100) < 0.01);
  assert.ok(Math.abs(latest.network.bytes_sent_per_sec - truth.net_sent_ps!) < 0.01);
  const m = (await s.api('GET', `/api/v1/monitors/${mon.id}`)).body;
  assert.ok(m.last_polled, 'last_polled set');
  assert.equal(m.consecutive_failures, 0);

  const again = await s.api('POST', `/api/v1/discovery-profiles/${dp.id}/run`);
  assert.equal(again.status, 200);
  assert.equal(
    (await s.api('GET', '/api/v1/devices')).body.length,
    3,
    're-running discovery updates, never duplicates',
  );
});

test('a wrong password shows up as an auth failure on the monitor', async () => {
  const agentId = JSON.parse(readFileSync(`${home}/identity.json`, 'utf8')).agent_id as number;
  const bad = (
    await s.api('POST', '/api/v1/credential-profiles', {
      name: 'journey-bad',
      type: 'winrm_ntlm',
      username: 'Administrator',
      password: 'definitely-wrong',
    })
  ).body;
  const dev =
    (await s.api('POST', '/api/v1/devices', { agent_id: agentId, ip: sim.hosts[1]!.address, hostname: 'manual' }))
      .body ??
    (await s.api('GET', `/api/v1/devices?agent_id=${agentId}`)).body.find(
      (d: { ip: string }) => d.ip === sim.hosts[1]!.address,
    );
  const devices = (await s.api('GET', `/api/v1/devices?agent_id=${agentId}`)).body as { id: number; ip: string }[];
  const target = devices.find((d) => d.ip === sim.hosts[1]!.address) ?? dev;
  const mon = (
    await s.api('POST', '/api/v1/monitors', {
      device_id: target.id,
      credential_profile_id: bad.id,
      plugin_id: 1,
      polling_interval: 10,
    })
  ).body;
  const failed = await waitFor(
    'auth failure recorded',
    async () => {
      const r = (await s.api('GET', `/api/v1/monitors/${mon.id}`)).body;
      return r.last_error_class ? r : undefined;
    },
    120_000,
    500,
  );
  assert.equal(failed.last_error_class, 'auth');
  assert.match(failed.last_error, /credential|401|rejected|password/i);
  assert.ok(!JSON.stringify(failed).includes('definitely-wrong'));
});

test('disabling the agent closes its session at once and it stays refused', async () => {
  const agentId = JSON.parse(readFileSync(`${home}/identity.json`, 'utf8')).agent_id as number;
  // "At once": the server closes the session itself; without that the agent would run on until a
  // reconnect (none is due). 15 s leaves a loaded machine room to deliver the close and end the process.
  await s.api('PUT', `/api/v1/agents/${agentId}`, { disabled: true });
  const code = await Promise.race([
    agent!.exited,
    new Promise<string>((r) => setTimeout(() => r('still running'), 15_000)),
  ]);
  assert.equal(code, 3, 'the agent exits with the fatal-refusal code');
  // The hub drops the session when its socket has closed, which the agent's exit may overtake.
  await waitOnline(s, agentId, false, 30_000);
  // A fresh process (tsx compiles the agent first) connects, is refused and exits.
  const retry = startAgentProcess(home);
  const retryCode = await Promise.race([
    retry.exited,
    new Promise<string>((r) => setTimeout(() => r('still running'), 90_000)),
  ]);
  assert.equal(retryCode, 3);
  agent = undefined;
});
