import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { httpsRequest, startTestServer, type TestServer } from '../../helpers/server.ts';

const PASSWORD = 'Sup3r-Secret-Pa55word!';
let s: TestServer;
const seen: string[] = [];
before(async () => {
  s = await startTestServer();
  const api = s.api;
  s.api = async (...args) => {
    const r = await api(...args);
    seen.push(JSON.stringify(r.body ?? ''));
    return r;
  };
});
after(() => s.stop());

async function makeAgent(name: string) {
  const r = await s.api('POST', '/api/v1/agents', { name });
  assert.equal(r.status, 201);
  return r.body;
}

/** A credential profile with user u, through the API (its body). */
async function makeCredential(name: string, type: 'winrm_ntlm' | 'winrm_basic', password: string) {
  return (await s.api('POST', '/api/v1/credential-profiles', { name, type, username: 'u', password })).body;
}

/** An external plugin running `check`, through the API (its body). */
async function makeExternalPlugin(name: string) {
  return (await s.api('POST', '/api/v1/plugins', { name, type: 'external', config: { command: 'check' } })).body;
}

test('credential profiles: create 201, list, get, update, duplicate 409, never a password', async () => {
  const c = await s.api('POST', '/api/v1/credential-profiles', {
    name: 'WindowsAdmin',
    type: 'winrm_ntlm',
    username: 'administrator',
    password: PASSWORD,
    domain: 'CORP',
  });
  assert.equal(c.status, 201);
  assert.equal(c.body.port, 5985);
  assert.equal(c.body.password, undefined);
  assert.equal(c.body.version, 1);
  const dup = await s.api('POST', '/api/v1/credential-profiles', {
    name: 'WindowsAdmin',
    type: 'winrm_basic',
    username: 'x',
    password: 'y',
  });
  assert.equal(dup.status, 409);
  assert.equal(dup.body.error.code, 'CONFLICT');
  const u = await s.api('PUT', `/api/v1/credential-profiles/${c.body.id}`, {
    password: `${PASSWORD}-2`,
    use_ssl: true,
    port: 5986,
  });
  assert.equal(u.status, 200);
  assert.equal(u.body.version, 2);
  assert.equal(u.body.use_ssl, true);
  assert.equal((await s.api('GET', `/api/v1/credential-profiles/${c.body.id}`)).body.name, 'WindowsAdmin');
  assert.ok((await s.api('GET', '/api/v1/credential-profiles')).body.some((p: { id: number }) => p.id === c.body.id));
  const pin = await s.api('POST', '/api/v1/credential-profiles', {
    name: 'Pinned',
    type: 'winrm_basic',
    username: 'a',
    password: 'b',
    use_ssl: true,
    tls_verify: 'pin',
  });
  assert.equal(pin.status, 400);
  assert.equal(pin.body.error.details.field, 'tls_fingerprint');
});

test('the stored password is AES-GCM ciphertext with a key id, not the password', async () => {
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: s.dbUrl });
  await c.connect();
  const r = await c.query("SELECT password_enc, key_id FROM credential_profiles WHERE name = 'WindowsAdmin'");
  await c.end();
  assert.match(r.rows[0].password_enc, /^v1:[0-9a-f]{12}:/);
  assert.ok(!r.rows[0].password_enc.includes(PASSWORD));
  assert.equal(r.rows[0].key_id.length, 12);
});

test('validation errors name the field and the reason', async () => {
  const agent = await makeAgent('validation-site');
  const cred = await makeCredential('v-cred', 'winrm_basic', 'p');
  const cases: [string, string, unknown, string][] = [
    ['POST', '/api/v1/devices', { agent_id: agent.agent.id, ip: '999.1.1.1' }, 'ip'],
    ['POST', '/api/v1/devices', { agent_id: agent.agent.id, ip: '10.0.0.1', port: 0 }, 'port'],
    [
      'POST',
      '/api/v1/discovery-profiles',
      { name: 'd', agent_id: agent.agent.id, credential_profile_id: cred.id, target: '10.0.0.0/8' },
      'target',
    ],
    [
      'POST',
      '/api/v1/discovery-profiles',
      { name: 'd', agent_id: agent.agent.id, credential_profile_id: cred.id, target: '10.0.0.50-10.0.0.1' },
      'target',
    ],
    [
      'POST',
      '/api/v1/discovery-profiles',
      { name: 'd', agent_id: agent.agent.id, credential_profile_id: cred.id, target: 'not-an-ip' },
      'target',
    ],
    [
      'POST',
      '/api/v1/monitors',
      { device_id: 1, credential_profile_id: cred.id, plugin_id: 1, polling_interval: 5 },
      'polling_interval',
    ],
    [
      'POST',
      '/api/v1/monitors',
      { device_id: 1, credential_profile_id: cred.id, plugin_id: 1, polling_interval: 100000 },
      'polling_interval',
    ],
    ['POST', '/api/v1/plugins', { name: 'x'.repeat(101), type: 'external', config: { command: 'check' } }, 'name'],
    ['POST', '/api/v1/plugins', { name: '', type: 'external' }, 'name'],
    [
      'POST',
      '/api/v1/credential-profiles',
      { name: 'n', type: 'winrm_kerberos', username: 'u', password: 'p' },
      'type',
    ],
    [
      'POST',
      '/api/v1/credential-profiles',
      { name: 'n', type: 'winrm_basic', username: 'u', password: 'p', extra: true },
      'extra',
    ],
    ['POST', '/api/v1/agents', { name: 'a', status: 'active' }, 'status'],
    ['GET', '/api/v1/monitors/abc', undefined, 'id'],
    ['GET', '/api/v1/devices/%E0%A4%A', undefined, 'id'],
    ['GET', '/api/v1//[', undefined, '(path)'],
    [
      'POST',
      '/api/v1/credential-profiles',
      { name: 'a\u0000b', type: 'winrm_basic', username: 'u', password: 'p' },
      'name',
    ],
    [
      'POST',
      '/api/v1/plugins',
      { name: 'p', type: 'external', config: { command: 'check', args: ['x\u0000'] } },
      'config.args.0',
    ],
  ];
  for (const [method, path, body, field] of cases) {
    const r = await s.api(method, path, body);
    assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(body)}`);
    assert.equal(r.body.error.code, 'VALIDATION_ERROR');
    assert.equal(r.body.error.details.field, field, JSON.stringify(r.body));
    assert.ok(r.body.error.message.length > 5);
    assert.ok(!/\\n\s+at |\.ts:\d+/.test(JSON.stringify(r.body)), 'no stack trace');
  }
  const bad = await s.api('POST', '/api/v1/plugins', '{"name": ');
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /not valid JSON/);
  const ext = await s.api('POST', '/api/v1/plugins', { name: 'ext-no-cmd', type: 'external' });
  assert.equal(ext.status, 400);
  assert.equal(ext.body.error.details.field, 'config.command');
});

test('unknown ids are 404, unknown routes 404, wrong methods 405', async () => {
  for (const p of [
    '/api/v1/monitors/999999',
    '/api/v1/devices/999999',
    '/api/v1/plugins/999999',
    '/api/v1/agents/999999',
    '/api/v1/credential-profiles/999999',
    '/api/v1/discovery-profiles/999999',
  ]) {
    const r = await s.api('GET', p);
    assert.equal(r.status, 404, p);
    assert.equal(r.body.error.code, 'NOT_FOUND');
  }
  assert.equal((await s.api('GET', '/api/v1/nothing-here')).status, 404);
  assert.equal((await s.api('PATCH', '/api/v1/monitors')).status, 405);
});

test('provisioning checks each reference with its own 404', async () => {
  const agent = await makeAgent('prov-site');
  const cred = await makeCredential('prov-cred', 'winrm_basic', 'p');
  const dev = (await s.api('POST', '/api/v1/devices', { agent_id: agent.agent.id, ip: '10.1.1.1' })).body;
  const r1 = await s.api('POST', '/api/v1/monitors', {
    device_id: 999999,
    credential_profile_id: cred.id,
    plugin_id: 1,
  });
  assert.equal(r1.status, 404);
  assert.equal(r1.body.error.message, 'Device not found');
  const r2 = await s.api('POST', '/api/v1/monitors', {
    device_id: dev.id,
    credential_profile_id: 999999,
    plugin_id: 1,
  });
  assert.equal(r2.body.error.message, 'Credential Profile not found');
  const r3 = await s.api('POST', '/api/v1/monitors', {
    device_id: dev.id,
    credential_profile_id: cred.id,
    plugin_id: 999999,
  });
  assert.equal(r3.body.error.message, 'Plugin not found');
  const ok = await s.api('POST', '/api/v1/monitors', {
    device_id: dev.id,
    credential_profile_id: cred.id,
    plugin_id: 1,
    polling_interval: 60,
  });
  assert.equal(ok.status, 201);
  assert.equal(ok.body.enabled, true);
  const upd = await s.api('PUT', `/api/v1/monitors/${ok.body.id}`, { enabled: false, polling_interval: 120 });
  assert.equal(upd.body.enabled, false);
  assert.equal(upd.body.polling_interval, 120);
  const metrics = await s.api('GET', `/api/v1/monitors/${ok.body.id}/metrics`);
  assert.equal(metrics.status, 404);
  assert.match(metrics.body.error.message, /no metrics yet/);
});

test('discovery profiles and devices check each reference with its own 404 naming the field', async () => {
  const agent = await makeAgent('refs-agent');
  const cred = await makeCredential('refs-cred', 'winrm_basic', 'p');
  const base = { name: 'refs-dp', agent_id: agent.agent.id, credential_profile_id: cred.id, target: '10.0.0.1' };
  const cases: [Record<string, unknown>, string, Record<string, unknown>][] = [
    [{ agent_id: 999999 }, 'Agent not found', { agent_id: 999999 }],
    [{ credential_profile_id: 999998 }, 'Credential Profile not found', { credential_profile_id: 999998 }],
    [{ plugin_id: 999997 }, 'Plugin not found', { plugin_id: 999997 }],
  ];
  for (const [patch, msg, details] of cases) {
    const r = await s.api('POST', '/api/v1/discovery-profiles', { ...base, ...patch });
    assert.equal(r.status, 404, JSON.stringify(r.body));
    assert.equal(r.body.error.message, msg);
    assert.deepEqual(r.body.error.details, details);
  }
  const ok = await s.api('POST', '/api/v1/discovery-profiles', { ...base, plugin_id: null });
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  const upd = await s.api('PUT', `/api/v1/discovery-profiles/${ok.body.id}`, { agent_id: 999999 });
  assert.equal(upd.status, 404);
  assert.deepEqual(upd.body.error.details, { agent_id: 999999 });
  const dev = await s.api('POST', '/api/v1/devices', { agent_id: 999999, ip: '10.0.0.1' });
  assert.deepEqual(
    [dev.status, dev.body.error.message, dev.body.error.details],
    [404, 'Agent not found', { agent_id: 999999 }],
  );
});

test('deletion rules and messages, in their order (README: deletion rules)', async () => {
  const agent = await makeAgent('delete-site');
  const cred = await makeCredential('del-cred', 'winrm_ntlm', PASSWORD);
  const plugin = await makeExternalPlugin('del-plugin');
  const dp = (
    await s.api('POST', '/api/v1/discovery-profiles', {
      name: 'Office',
      agent_id: agent.agent.id,
      credential_profile_id: cred.id,
      target: '10.9.0.0/24',
    })
  ).body;
  const d1 = (await s.api('POST', '/api/v1/devices', { agent_id: agent.agent.id, ip: '10.9.0.1' })).body;
  const d2 = (await s.api('POST', '/api/v1/devices', { agent_id: agent.agent.id, ip: '10.9.0.2' })).body;
  const m1 = (
    await s.api('POST', '/api/v1/monitors', { device_id: d1.id, credential_profile_id: cred.id, plugin_id: plugin.id })
  ).body;
  const m2 = (
    await s.api('POST', '/api/v1/monitors', { device_id: d2.id, credential_profile_id: cred.id, plugin_id: plugin.id })
  ).body;

  let r = await s.api('DELETE', `/api/v1/credential-profiles/${cred.id}`);
  assert.equal(r.status, 400);
  assert.equal(r.body.error.message, 'Credential Profile in use by 2 monitor(s)');
  r = await s.api('DELETE', `/api/v1/devices/${d1.id}`);
  assert.equal(r.body.error.message, 'Device in use by 1 monitor(s)');
  r = await s.api('DELETE', `/api/v1/plugins/${plugin.id}`);
  assert.equal(r.body.error.message, 'Plugin in use by 2 monitor(s)');
  r = await s.api('DELETE', `/api/v1/agents/${agent.agent.id}`);
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /^Agent in use by 2 device\(s\)$/);

  assert.equal((await s.api('DELETE', `/api/v1/monitors/${m1.id}`)).status, 204);
  assert.equal((await s.api('DELETE', `/api/v1/monitors/${m2.id}`)).status, 204);
  assert.equal((await s.api('GET', `/api/v1/monitors/${m1.id}`)).status, 404);
  r = await s.api('DELETE', `/api/v1/credential-profiles/${cred.id}`);
  assert.equal(r.body.error.message, 'Credential Profile in use by 1 discovery profile(s)');
  assert.equal((await s.api('DELETE', `/api/v1/plugins/${plugin.id}`)).status, 204);
  // Deleting the discovery profile leaves its devices.
  assert.equal((await s.api('DELETE', `/api/v1/discovery-profiles/${dp.id}`)).status, 204);
  assert.equal((await s.api('GET', `/api/v1/devices/${d1.id}`)).status, 200);
  assert.equal((await s.api('DELETE', `/api/v1/credential-profiles/${cred.id}`)).status, 204);
  assert.equal((await s.api('DELETE', `/api/v1/devices/${d1.id}`)).status, 204);
  assert.equal((await s.api('DELETE', `/api/v1/devices/${d2.id}`)).status, 204);
  assert.equal((await s.api('DELETE', `/api/v1/agents/${agent.agent.id}`)).status, 204);
});

test('agents: create shows a one-time token, update renames and disables, list and get', async () => {
  const a = await makeAgent('site-x');
  assert.match(a.enrollment_token, /^nmse_/);
  assert.equal(a.agent.status, 'pending');
  assert.equal(a.agent.online, false);
  assert.equal((await s.api('POST', '/api/v1/agents', { name: 'site-x' })).status, 409);
  const u = await s.api('PUT', `/api/v1/agents/${a.agent.id}`, { name: 'site-y', disabled: true });
  assert.equal(u.body.name, 'site-y');
  assert.equal(u.body.status, 'disabled');
  const g = await s.api('GET', `/api/v1/agents/${a.agent.id}`);
  assert.equal(g.body.enrollment_token, undefined);
  const re = await s.api('POST', `/api/v1/agents/${a.agent.id}/enrollment-token`);
  assert.equal(re.status, 200);
  assert.notEqual(re.body.enrollment_token, a.enrollment_token);
  assert.ok((await s.api('GET', '/api/v1/agents')).body.length >= 1);
});

test('devices: manual create, same IP under two agents, duplicate under one is 409, status update', async () => {
  const a = await makeAgent('dev-a');
  const b = await makeAgent('dev-b');
  const d1 = await s.api('POST', '/api/v1/devices', { agent_id: a.agent.id, ip: '192.168.1.10', hostname: 'WIN-A' });
  const d2 = await s.api('POST', '/api/v1/devices', { agent_id: b.agent.id, ip: '192.168.1.10' });
  assert.equal(d1.status, 201);
  assert.equal(d2.status, 201);
  assert.equal((await s.api('POST', '/api/v1/devices', { agent_id: a.agent.id, ip: '192.168.1.10' })).status, 409);
  const u = await s.api('PUT', `/api/v1/devices/${d1.body.id}`, { status: 'inactive' });
  assert.equal(u.body.status, 'inactive');
  const list = await s.api('GET', `/api/v1/devices?agent_id=${a.agent.id}`);
  assert.deepEqual(
    list.body.map((d: { ip: string }) => d.ip),
    ['192.168.1.10'],
  );
  assert.equal((await s.api('POST', '/api/v1/devices', { agent_id: 999999, ip: '10.0.0.1' })).status, 404);
});

test('discovery profiles and plugins: CRUD; running discovery without a connected agent is 503', async () => {
  const a = await makeAgent('disc-site');
  const cred = await makeCredential('disc-cred', 'winrm_basic', 'p');
  const p = await s.api('POST', '/api/v1/discovery-profiles', {
    name: 'Lab',
    agent_id: a.agent.id,
    credential_profile_id: cred.id,
    target: '10.0.0.1-10.0.0.50',
    port_scan: true,
  });
  assert.equal(p.status, 201);
  assert.equal(
    (await s.api('PUT', `/api/v1/discovery-profiles/${p.body.id}`, { target: '10.0.0.0/24' })).body.target,
    '10.0.0.0/24',
  );
  const run = await s.api('POST', `/api/v1/discovery-profiles/${p.body.id}/run`);
  assert.equal(run.status, 503);
  assert.match(run.body.error.message, /no agent connected/);
  const pl = await s.api('POST', '/api/v1/plugins', {
    name: 'custom',
    type: 'external',
    config: { command: 'check', timeout_ms: 5000 },
  });
  assert.equal(pl.status, 201);
  assert.equal((await s.api('PUT', `/api/v1/plugins/${pl.body.id}`, { description: 'mine' })).body.description, 'mine');
  assert.equal((await s.api('GET', `/api/v1/plugins/${pl.body.id}`)).body.config.command, 'check');
  assert.equal((await s.api('DELETE', `/api/v1/plugins/${pl.body.id}`)).status, 204);
});

test('no response body or log line ever contains a credential password', async () => {
  await s.api('GET', '/api/v1/credential-profiles');
  await s.api('POST', '/api/v1/credential-profiles', {
    name: 'log-check',
    type: 'winrm_basic',
    username: 'u',
    password: PASSWORD,
    bogus: PASSWORD,
  });
  await s.api('POST', '/api/v1/auth/login', { username: 'admin', password: PASSWORD }, null);
  const everything = seen.join('\n');
  assert.ok(seen.length > 30);
  assert.ok(!everything.includes(PASSWORD), 'a response contained the password');
  assert.ok(!s.logs.join('\n').includes(PASSWORD), 'a log line contained the password');
  assert.ok(!s.logs.join('\n').includes(s.token), 'a log line contained a session token');
  assert.ok(
    s.logs.some((l) => l.includes('"req_id"')),
    'requests are logged with a request id',
  );
});

test('the tRPC endpoint refuses a body over the request limit with 413, before authentication', async () => {
  const r = await httpsRequest(
    'POST',
    `${s.url}/trpc/auth.login`,
    { 'content-type': 'application/json' },
    JSON.stringify({ username: 'x'.repeat(2 * 1024 * 1024), password: 'p' }),
  );
  assert.equal(r.status, 413, 'payload too large');
});

test('a plugin a discovery profile provisions with cannot be deleted: 400 naming the discovery profile, not 500', async () => {
  const agent = await makeAgent('plugin-dp-site');
  const cred = await makeCredential('plugin-dp-cred', 'winrm_ntlm', 'p');
  const plugin = await makeExternalPlugin('plugin-dp');
  const dp = (
    await s.api('POST', '/api/v1/discovery-profiles', {
      name: 'plugin-dp',
      agent_id: agent.agent.id,
      credential_profile_id: cred.id,
      target: '10.0.0.1',
      plugin_id: plugin.id,
    })
  ).body;
  const r = await s.api('DELETE', `/api/v1/plugins/${plugin.id}`);
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.equal(r.body.error.message, 'Plugin in use by 1 discovery profile(s)');
  assert.equal((await s.api('DELETE', `/api/v1/discovery-profiles/${dp.id}`)).status, 204);
  assert.equal((await s.api('DELETE', `/api/v1/plugins/${plugin.id}`)).status, 204, 'free once the profile is gone');
});
