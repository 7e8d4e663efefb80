import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { agentHome, startAgentProcess, waitFor, enrollAgent, waitOnline } from '../helpers/agent-process.ts';
import { startWinsim, type Winsim } from '../winsim/index.ts';

// External plugins that hang, crash or print garbage show a clear last_error on their monitor and
// do not hold up a healthy plugin or a WMI monitor on the same agent. The site installs them in
// the agent's plugins folder; the server names them (issue 13, finding 1).
let s: TestServer;
let sim: Winsim;
let agent: ReturnType<typeof startAgentProcess>;
const home = agentHome();
const marker = `${home}/outside-ran`;
const script = (name: string, body: string) => {
  mkdirSync(`${home}/plugins`, { recursive: true, mode: 0o755 });
  writeFileSync(`${home}/plugins/${name}`, `#!/bin/sh\n${body}\n`);
  chmodSync(`${home}/plugins/${name}`, 0o755);
  return name;
};
before(async () => {
  s = await startTestServer({ polling: { job_timeout_s: 5, grace_s: 3 } });
  sim = await startWinsim({ hosts: 1, portBase: 0, auth: 'ntlm', password: 'Plugins-Pass-1', seed: 44 });
});
after(async () => {
  agent?.child.kill('SIGKILL');
  await sim.stop();
  await s.stop();
});

test('hanging, crashing and garbage-printing plugins fail clearly; healthy monitors keep working', {
  timeout: 300_000,
}, async () => {
  const { agentId } = await enrollAgent(s, 'plugin-site', { home });
  agent = startAgentProcess(home, ['--ping-before-poll', 'false']);
  await waitOnline(s, agentId);
  const h = sim.hosts[0]!;
  const cred = (
    await s.api('POST', '/api/v1/credential-profiles', {
      name: 'plug',
      type: 'winrm_ntlm',
      username: h.user,
      password: h.password,
      port: h.port,
    })
  ).body;
  const dev = (await s.api('POST', '/api/v1/devices', { agent_id: agentId, ip: h.address, port: h.port })).body;
  const plugins = {
    hang: script('hang.sh', 'sleep 60'),
    crash: script('crash.sh', 'echo "cannot open perf counters" >&2; exit 7'),
    garbage: script('garbage.sh', 'echo "this is not json"'),
    good: script('good.sh', 'cat >/dev/null; echo \'{"cpu_percent": 42, "process_count": 7, "collection_ms": 3}\''),
    // reads its password from stdin and prints it reversed: must not reach last_error
    leaky: script(
      'leaky.sh',
      `printf 'wrong password %s\\n' "$(sed 's/.*"password":"\\([^"]*\\)".*/\\1/' | rev)" >&2; exit 1`,
    ),
    // not in the agent's plugins folder: refused, whatever its args
    outside: 'not-installed',
  };
  const monitors: Record<string, number> = {};
  for (const [name, command] of Object.entries(plugins)) {
    const config = { command, timeout_ms: 2000, ...(name === 'outside' ? { args: ['-c', `touch ${marker}`] } : {}) };
    const p = (await s.api('POST', '/api/v1/plugins', { name: `ext-${name}`, type: 'external', config })).body;
    assert.ok(p.id, JSON.stringify(p));
    monitors[name] = (
      await s.api('POST', '/api/v1/monitors', {
        device_id: dev.id,
        credential_profile_id: cred.id,
        plugin_id: p.id,
        polling_interval: 10,
      })
    ).body.id;
  }
  monitors.wmi = (
    await s.api('POST', '/api/v1/monitors', {
      device_id: dev.id,
      credential_profile_id: cred.id,
      plugin_id: 1,
      polling_interval: 10,
    })
  ).body.id;

  const state = async (id: number) => (await s.api('GET', `/api/v1/monitors/${id}`)).body;
  // The healthy two polled, the broken ones failed (a healthy one's first poll on a loaded machine may
  // have met the 5 s job timeout: what counts is that it works alongside the broken ones).
  const healthy = new Set([monitors.good, monitors.wmi]);
  await waitFor(
    'every monitor attempted: the healthy ones polled, the others failed',
    async () => {
      const all = await Promise.all(Object.values(monitors).map(async (id) => ({ id, m: await state(id) })));
      return all.every(({ id, m }) => (healthy.has(id) ? m.last_polled : m.last_error));
    },
    120_000,
    500,
  );
  const hang = await state(monitors.hang!);
  assert.ok(['timeout', 'plugin_error'].includes(hang.last_error_class), hang.last_error_class);
  assert.match(hang.last_error, /time|deadline/i);
  const crash = await state(monitors.crash!);
  assert.equal(crash.last_error_class, 'plugin_error');
  assert.match(crash.last_error, /7/);
  assert.match(crash.last_error, /cannot open perf counters/);
  const garbage = await state(monitors.garbage!);
  assert.equal(garbage.last_error_class, 'plugin_error');
  assert.match(garbage.last_error, /JSON|json/);
  const leaky = await state(monitors.leaky!);
  assert.equal(leaky.last_error_class, 'plugin_error');
  assert.match(leaky.last_error, /exited with code 1/);
  const rev = [...h.password].reverse().join('');
  for (let i = 0; i + 4 <= rev.length; i++)
    assert.ok(!leaky.last_error.toLowerCase().includes(rev.slice(i, i + 4).toLowerCase()), leaky.last_error);
  const outside = await state(monitors.outside!);
  assert.equal(outside.last_error_class, 'plugin_error');
  assert.match(outside.last_error, /plugin "not-installed" is not installed on this agent/);
  assert.ok(!existsSync(marker));
  const good = (await s.api('GET', `/api/v1/monitors/${monitors.good}/metrics`)).body;
  assert.equal(good.cpu.usage_percent, 42);
  assert.equal(good.process_count, 7);
  const wmi = await s.api('GET', `/api/v1/monitors/${monitors.wmi}/metrics`);
  assert.equal(wmi.status, 200);
  assert.equal(wmi.body.memory.total_bytes, h.truth().sample.memory_total);
});
