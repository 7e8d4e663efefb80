import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, test } from 'node:test';
import { startAuditRetention } from '../../../server/audit/audit-retention.ts';
import { loadConfig, parseConfig } from '../../../server/config.ts';
import { createEventBus } from '../../../server/events.ts';
import { createHealthMonitor } from '../../../server/health/health-monitor.ts';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { createTableServices } from '../../helpers/services.ts';
import { connectRaw, enrollRaw, startRawDiscovery } from '../hub/raw-agent.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer({ discovery: { wait_s: 0 } });
});
after(() => s.stop());

/** An API call from a chosen loopback address, as the admin. */
function apiFrom(from: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${s.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const req = request(
      `${s.url}${path}`,
      { method, localAddress: from, rejectUnauthorized: false, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const entries = async (query: string) => {
  const r = await s.api('GET', `/api/v1/audit-log?${query}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as {
    id: number;
    time: string;
    actor: string;
    source_address: string | null;
    entity_type: string;
    entity_id: number | null;
    action: string;
    changes: Record<string, { from?: unknown; to: unknown }>;
  }[];
};

test('every change through the API is recorded with who, from where, what and which fields changed', async () => {
  const agent = (await apiFrom('127.0.7.1', 'POST', '/api/v1/agents', { name: 'audit-site' })).body.agent;
  const dev = await apiFrom('127.0.7.2', 'POST', '/api/v1/devices', {
    agent_id: agent.id,
    ip: '10.70.0.5',
    hostname: 'WS-5',
  });
  assert.equal(dev.status, 201);
  assert.equal(
    (
      await apiFrom('127.0.7.3', 'PUT', `/api/v1/devices/${dev.body.id}`, {
        port: 5986,
        use_ssl: true,
        hostname: 'WS-5',
      })
    ).status,
    200,
  );
  assert.equal((await apiFrom('127.0.7.4', 'DELETE', `/api/v1/devices/${dev.body.id}`)).status, 204);

  const log = await entries(`entity_type=device&entity_id=${dev.body.id}`);
  assert.deepEqual(
    log.map((e) => [e.action, e.actor, e.source_address]),
    [
      ['delete', 'admin', '127.0.7.4'],
      ['update', 'admin', '127.0.7.3'],
      ['create', 'admin', '127.0.7.2'],
    ],
    'newest first, each with the admin and the request address',
  );
  const [del, upd, created] = log;
  assert.deepEqual(
    upd!.changes,
    { port: { from: 5985, to: 5986 }, use_ssl: { from: false, to: true } },
    'only the fields that changed',
  );
  assert.equal(created!.changes.ip!.to, '10.70.0.5');
  assert.equal(created!.changes.status!.to, 'active');
  assert.equal(del!.changes.ip!.from, '10.70.0.5');
  assert.ok(Date.parse(created!.time) <= Date.parse(del!.time));

  const refused = await apiFrom('127.0.7.5', 'POST', '/api/v1/agents', { name: 'audit-site' });
  assert.equal(refused.status, 409);
  assert.equal(
    (await entries('entity_type=agent&actor=admin')).filter((e) => e.action === 'create').length,
    1,
    'a refused change leaves no entry',
  );
});

test('the entry is written in the same transaction as the change: when it cannot be written, the change does not happen', async () => {
  const agent = (await s.api('POST', '/api/v1/agents', { name: 'audit-tx' })).body.agent;
  await s.server.pool.query(
    "ALTER TABLE audit_log ADD CONSTRAINT test_no_device CHECK (entity_type <> 'device') NOT VALID",
  );
  try {
    const r = await s.api('POST', '/api/v1/devices', { agent_id: agent.id, ip: '10.70.1.1' });
    assert.equal(r.status, 500);
  } finally {
    await s.server.pool.query('ALTER TABLE audit_log DROP CONSTRAINT test_no_device');
  }
  assert.equal(
    (await s.server.pool.query("SELECT count(*)::int AS n FROM devices WHERE ip = '10.70.1.1'")).rows[0].n,
    0,
    'the device was not stored without its audit entry',
  );
});

test('no password, token or key ever reaches the audit log; a changed secret is named, not shown', async () => {
  const password = 'Audit-Secret-Pa55!';
  const cred = await s.api('POST', '/api/v1/credential-profiles', {
    name: 'audit-cred',
    type: 'winrm_ntlm',
    username: 'administrator',
    password,
    domain: 'CORP',
  });
  assert.equal(cred.status, 201);
  assert.equal(
    (await s.api('PUT', `/api/v1/credential-profiles/${cred.body.id}`, { password: `${password}-2`, port: 5986 }))
      .status,
    200,
  );
  const created = await s.api('POST', '/api/v1/agents', { name: 'audit-secret-agent' });
  const reissued = await s.api('POST', `/api/v1/agents/${created.body.agent.id}/enrollment-token`);
  const tokens = [created.body.enrollment_token, reissued.body?.enrollment_token].filter(Boolean) as string[];
  const plugin = await s.api('POST', '/api/v1/plugins', {
    name: 'audit-ext',
    type: 'external',
    config: { command: 'check-disk', args: ['--password', password] },
  });
  assert.equal(plugin.status, 201, JSON.stringify(plugin.body));
  const id = await enrollRaw(s, 'audit-enrolled');

  const rows = (await s.server.pool.query('SELECT changes::text AS c FROM audit_log')).rows
    .map((r) => r.c as string)
    .join('\n');
  const enc = (await s.server.pool.query('SELECT password_enc FROM credential_profiles WHERE id = $1', [cred.body.id]))
    .rows[0].password_enc as string;
  for (const secret of [
    password,
    `${password}-2`,
    enc,
    ...tokens,
    id.sign_public_key.split('\n')[1]!,
    id.seal_public_key.split('\n')[1]!,
  ]) {
    assert.ok(!rows.includes(secret), `a secret reached the audit log: ${secret.slice(0, 12)}…`);
  }
  const credLog = await entries(`entity_type=credential_profile&entity_id=${cred.body.id}`);
  assert.deepEqual(credLog[0]!.changes, {
    port: { from: 5985, to: 5986 },
    version: { from: 1, to: 2 },
    password: { to: '(changed)' },
  });
  assert.equal(credLog[1]!.changes.username!.to, 'administrator');
  assert.deepEqual(credLog[1]!.changes.password, { to: '(changed)' });
  const pluginLog = await entries(`entity_type=plugin&entity_id=${plugin.body.id}`);
  assert.equal(pluginLog[0]!.changes['config.command']!.to, 'check-disk');
  assert.equal(pluginLog[0]!.changes['config.args_count']!.to, 2, 'arguments counted, not shown');
  const enrol = (await entries(`entity_type=agent&entity_id=${id.agent_id}`))[0]!;
  assert.equal(enrol.action, 'enroll');
  assert.equal(enrol.actor, 'agent: audit-enrolled');
  assert.equal(enrol.source_address, '127.0.0.1');
  assert.deepEqual(enrol.changes.keys, { to: '(changed)' });
  assert.deepEqual(enrol.changes.status, { from: 'pending', to: 'active' });
});

test("the server's own changes are recorded as the health monitor's and discovery's", async () => {
  const id = await enrollRaw(s, 'audit-discoverer');
  const agent = await connectRaw(s, id);
  const cred = (
    await s.api('POST', '/api/v1/credential-profiles', {
      name: 'audit-disc-cred',
      type: 'winrm_basic',
      username: 'u',
      password: 'p-audit',
    })
  ).body;
  const { profileId, runId } = await startRawDiscovery(s, agent, {
    name: 'audit-disc',
    agent_id: id.agent_id,
    credential_profile_id: cred.id,
    target: '10.71.0.0/29',
    auto_provision: true,
  });
  agent.send({
    type: 'discovery.result',
    run_id: runId,
    scanned: 6,
    total: 6,
    devices: [
      {
        ip: '10.71.0.2',
        port: 5985,
        use_ssl: false,
        hostname: 'SRV-2',
        os: 'Windows',
        os_version: '10.0',
        winrm_stack: '3.0',
      },
    ],
  });
  let device: { id: number } | undefined;
  for (let i = 0; i < 100 && !device; i++) {
    device = (await s.api('GET', `/api/v1/devices?agent_id=${id.agent_id}`)).body[0];
    if (!device) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(device);
  const run = (await entries(`entity_type=discovery_profile&entity_id=${profileId}`))[0]!;
  assert.deepEqual([run.action, run.actor, run.changes.run_id!.to], ['run', 'admin', runId]);
  const byDiscovery = await entries('actor=system:%20discovery');
  const created = byDiscovery.find((e) => e.entity_type === 'device' && e.entity_id === device!.id)!;
  assert.equal(created.action, 'create');
  assert.equal(created.source_address, null);
  assert.equal(created.changes.hostname!.to, 'SRV-2');
  assert.ok(
    byDiscovery.some(
      (e) => e.entity_type === 'monitor' && e.action === 'create' && e.changes.device_id!.to === device!.id,
    ),
    'the provisioned monitor too',
  );
  agent.close();

  const events = createEventBus();
  const health = createHealthMonitor({
    devices: createTableServices(s.server.pool, events).devices,
    events,
    log: s.server.log,
    threshold: 2,
    windowMs: 60_000,
  });
  const now = Date.now();
  health.observe(
    [1, 2].map((k) => ({
      monitor_id: 1,
      device_id: device!.id,
      time: new Date(now - k * 1000),
      ok: false,
      failure_class: 'unreachable' as const,
      source: 'agent' as const,
    })),
  );
  let marked: Awaited<ReturnType<typeof entries>>[number] | undefined;
  for (let i = 0; i < 100 && !marked; i++) {
    marked = (await entries(`entity_type=device&entity_id=${device.id}&actor=system:%20health%20monitor`))[0];
    if (!marked) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(marked, 'the health monitor recorded its change');
  assert.deepEqual(marked.changes.status, { from: 'active', to: 'inactive' });
  assert.equal((await s.api('GET', `/api/v1/devices/${device.id}`)).body.status, 'inactive');
});

test('GET /audit-log filters by entity, actor and time, pages, answers tRPC too, and refuses bad filters and no login', async () => {
  const p = (await s.api('POST', '/api/v1/plugins', { name: 'audit-page', type: 'external', config: { command: 'x' } }))
    .body;
  for (let i = 0; i < 5; i++)
    assert.equal((await s.api('PUT', `/api/v1/plugins/${p.id}`, { description: `v${i}` })).status, 200);
  const all = await entries(`entity_type=plugin&entity_id=${p.id}`);
  assert.equal(all.length, 6);
  const page1 = await entries(`entity_type=plugin&entity_id=${p.id}&limit=2`);
  const page2 = await entries(`entity_type=plugin&entity_id=${p.id}&limit=2&offset=2`);
  assert.deepEqual(
    [...page1, ...page2].map((e) => e.id),
    all.slice(0, 4).map((e) => e.id),
  );
  assert.equal(page1[0]!.changes.description!.to, 'v4');
  const mid = all[2]!.time;
  const newer = await entries(`entity_type=plugin&entity_id=${p.id}&from=${encodeURIComponent(mid)}`);
  assert.ok(newer.length >= 3 && newer.every((e) => e.time >= mid));
  const older = await entries(`entity_type=plugin&entity_id=${p.id}&to=${encodeURIComponent(mid)}`);
  assert.ok(older.every((e) => e.time < mid));
  assert.equal(newer.length + older.length, 6);
  assert.equal((await entries(`entity_type=plugin&entity_id=${p.id}&actor=someone-else`)).length, 0);

  const input = encodeURIComponent(JSON.stringify({ entity_type: 'plugin', entity_id: p.id, limit: 1 }));
  const t = await s.api('GET', `/trpc/auditLog.list?input=${input}`);
  assert.equal(t.status, 200);
  assert.equal(t.body.result.data[0].id, all[0]!.id);

  assert.equal((await s.api('GET', '/api/v1/audit-log', undefined, null)).status, 401);
  const bad = await s.api('GET', '/api/v1/audit-log?entity_type=password');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.details.field, 'entity_type');
  assert.equal((await s.api('GET', '/api/v1/audit-log?from=yesterday')).status, 400);
});

test('entries older than audit.retention_days are deleted; newer ones stay', async () => {
  await s.server.pool.query(
    "INSERT INTO audit_log (time, actor, entity_type, entity_id, action) VALUES (now() - interval '400 days', 'admin', 'device', 999001, 'update'), (now() - interval '300 days', 'admin', 'device', 999002, 'update')",
  );
  const stop = startAuditRetention({ pool: s.server.pool, log: s.server.log, retentionDays: 365, everyMs: 50 });
  try {
    for (let i = 0; i < 100; i++) {
      const n = (await s.server.pool.query('SELECT count(*)::int AS n FROM audit_log WHERE entity_id = 999001')).rows[0]
        .n;
      if (n === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    stop();
  }
  const left = (
    await s.server.pool.query('SELECT entity_id FROM audit_log WHERE entity_id IN (999001, 999002)')
  ).rows.map((r) => r.entity_id);
  assert.deepEqual(left, [999002]);
});

test('audit.retention_days defaults to 365 and is set by NMSLITE_AUDIT_RETENTION_DAYS or --audit.retention_days', () => {
  assert.equal(parseConfig(loadConfig([], {})).audit.retention_days, 365);
  assert.equal(parseConfig(loadConfig([], { NMSLITE_AUDIT_RETENTION_DAYS: '30' })).audit.retention_days, 30);
  assert.equal(parseConfig(loadConfig(['--audit.retention_days', '0'], {})).audit.retention_days, 0);
  assert.throws(() => parseConfig(loadConfig([], { NMSLITE_AUDIT_RETENTION_DAYS: '-1' })), /audit\.retention_days/);
});
