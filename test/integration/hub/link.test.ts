import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as netConnect, type Socket } from 'node:net';
import WebSocket from 'ws';
import pg from 'pg';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { enrollIdentity, postEnroll as enrollWith, waitFor } from '../../helpers/agent-process.ts';
import type { AgentIdentity } from '../../../agent/identity.ts';
import { createLink, type Link, type SpooledResult } from '../../../agent/link/client.ts';
import { postJson } from '../../../agent/link/https-json.ts';
import { loadProxySettings } from '../../../agent/config.ts';
import { DIRECT } from '../../../agent/link/proxy.ts';
import { createMemorySpool } from '../../../agent/spool/memory-spool.ts';
import { selfSignedCert } from '../../winsim/tls-cert.ts';
import { TEST_SAMPLE as metrics } from '../../helpers/metric-samples.ts';

let s: TestServer;
const links: Link[] = [];
before(async () => {
  s = await startTestServer({ agents: { max_connections: 2, retry_after_s: 1, heartbeat_ms: 1000 } });
});
after(async () => {
  await Promise.all(links.map((l) => l.stop()));
  await s.stop();
});

const enrolled = (name: string): Promise<AgentIdentity> => enrollIdentity(s, name);
const postEnroll = (token: string, o: Parameters<typeof enrollWith>[2] = {}) => enrollWith(s, token, o);

/** A monitor on a new device of `agentId`, straight in the database (the agent's set is read again when it connects). */
async function seedMonitor(db: pg.Client, agentId: number, ip: string): Promise<number> {
  const tag = `${agentId}-${ip}`;
  const cred = await db.query(
    `INSERT INTO credential_profiles (name, type, username, password_enc, key_id, port) VALUES ($1, 'winrm_basic', 'u', 'x', 'k', 5985) RETURNING id`,
    [`c-${tag}`],
  );
  const plugin = await db.query(`INSERT INTO plugins (name, type) VALUES ($1, 'windows-wmi') RETURNING id`, [
    `p-${tag}`,
  ]);
  const d = await db.query(`INSERT INTO devices (agent_id, ip, status) VALUES ($1, $2, 'active') RETURNING id`, [
    agentId,
    ip,
  ]);
  const m = await db.query(
    `INSERT INTO monitors (device_id, credential_profile_id, plugin_id, polling_interval, enabled) VALUES ($1, $2, $3, 60, true) RETURNING id`,
    [d.rows[0].id, cred.rows[0].id, plugin.rows[0].id],
  );
  return m.rows[0].id as number;
}

/** link() started and connected. */
async function connectedLink(
  identity: AgentIdentity,
  extra: Partial<Parameters<typeof createLink>[0]> = {},
): Promise<Link> {
  const l = link(identity, extra);
  l.start();
  await waitFor('connected', async () => l.connected(), 10_000, 50);
  return l;
}

function link(
  identity: AgentIdentity,
  extra: Partial<Parameters<typeof createLink>[0]> = {},
  logs: string[] = [],
): Link {
  const spool = createMemorySpool<SpooledResult>();
  const rec = (o: object, m: string) => void logs.push(`${m} ${JSON.stringify(o)}`);
  const l = createLink({
    identity,
    spool,
    log: { info: rec, warn: rec, error: rec, debug() {} },
    proxy: DIRECT,
    hostname: 't',
    maxInFlight: 5,
    health: () => ({ spool_backlog: 0, jobs_in_flight: 0, job_lateness_ms: 0, errors: {} }),
    backoff: { baseMs: 100, capMs: 500 },
    ...extra,
  });
  links.push(l);
  return l;
}

test('an expired enrollment token is refused with a clear error', async () => {
  const created = await s.api('POST', '/api/v1/agents', { name: 'expired-token' });
  const db = new pg.Client({ connectionString: s.dbUrl });
  await db.connect();
  await db.query("UPDATE agents SET enrollment_expires_at = now() - interval '1 minute' WHERE id = $1", [
    created.body.agent.id,
  ]);
  await db.end();
  const { r } = await postEnroll(created.body.enrollment_token);
  assert.equal(r.status, 401);
  assert.match((r.body as { error: { message: string } }).error.message, /expired/);
});

test('a certificate that changed after enrollment is refused and the agent stops', async () => {
  const id = await enrolled('pinned');
  let fatal = '';
  link({ ...id, server_fingerprint: 'ab'.repeat(32) }, { onFatal: (r) => void (fatal = r) }).start();
  await waitFor('fatal pin mismatch', async () => fatal, 10_000, 50);
  assert.match(fatal, /certificate changed/);
});

test('over the connection limit the server answers 503 with Retry-After and the agent waits at least that long', async () => {
  const a = link(await enrolled('limit-a'));
  const b = link(await enrolled('limit-b'));
  a.start();
  b.start();
  await waitFor('two connected', async () => a.connected() && b.connected(), 10_000, 50);
  const refused = await new Promise<{ status: number; retry: string | undefined }>((resolve) => {
    const ws = new WebSocket(`wss://127.0.0.1:${s.port}/agent`, { rejectUnauthorized: false });
    ws.on('unexpected-response', (_req, res) =>
      resolve({ status: res.statusCode!, retry: res.headers['retry-after'] as string | undefined }),
    );
    ws.on('error', () => {});
  });
  assert.deepEqual(refused, { status: 503, retry: '1' });
  const logs: string[] = [];
  const c = link(await enrolled('limit-c'), {}, logs);
  const t0 = Date.now();
  c.start();
  await waitFor(
    'c refused',
    async () => logs.some((l) => l.includes('refused the connection') && l.includes('"retry_after_ms":1000')),
    10_000,
    20,
  );
  await a.stop();
  await waitFor('c connected', async () => c.connected(), 15_000, 20);
  assert.ok(Date.now() - t0 >= 1000, 'the retry-after hint was obeyed');
  await b.stop();
  await c.stop();
});

test('the link reaches the server through an HTTP CONNECT proxy from HTTPS_PROXY', async () => {
  let connects = 0;
  const proxy = createHttpServer();
  proxy.on('connect', (req, client: Socket, head) => {
    connects++;
    const [host, port] = (req.url ?? '').split(':');
    const upstream = netConnect(Number(port), host!, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  const proxyPort = (proxy.address() as { port: number }).port;
  const l = link(await enrolled('proxied'), {
    proxy: loadProxySettings({ HTTPS_PROXY: `http://127.0.0.1:${proxyPort}` }),
  });
  l.start();
  await waitFor('connected through the proxy', async () => l.connected(), 10_000, 50);
  assert.equal(connects, 1);
  await l.stop();
  // Enrollment (HTTPS POST) goes through the same proxy, pin checked on the tunnelled handshake.
  const created = await s.api('POST', '/api/v1/agents', { name: 'proxied-enroll' });
  const { r } = await postEnroll(created.body.enrollment_token, {
    proxy: loadProxySettings({ HTTPS_PROXY: `127.0.0.1:${proxyPort}` }),
    pin: s.server.fingerprint,
  });
  assert.equal(r.status, 200, 'enrolled through the proxy');
  assert.equal(connects, 2, 'one tunnel for the enrollment');
  proxy.close();
});

test('changing a credential profile tells connected agents to drop their cached copy', async () => {
  const seen: number[] = [];
  const l = await connectedLink(await enrolled('invalidate'), { onInvalidate: (id) => void seen.push(id) });
  const cred = (
    await s.api('POST', '/api/v1/credential-profiles', {
      name: 'inv',
      type: 'winrm_basic',
      username: 'u',
      password: 'p',
    })
  ).body;
  await s.api('PUT', `/api/v1/credential-profiles/${cred.id}`, { password: 'p2' });
  await waitFor('invalidation received', async () => seen.includes(cred.id), 5000, 20);
  await l.stop();
});

test("an agent's results for another agent's monitors are acknowledged but not stored", async () => {
  const a = await enrolled('owner-a');
  const b = await enrolled('owner-b');
  const db = new pg.Client({ connectionString: s.dbUrl });
  await db.connect();
  try {
    const mine = await seedMonitor(db, a.agent_id, '10.77.0.1');
    const theirs = await seedMonitor(db, b.agent_id, '10.77.0.2');
    const spool = createMemorySpool<SpooledResult>();
    const l = await connectedLink(a, { spool });
    const time = '2026-11-20T10:00:00.000Z';
    await spool.append([
      { job_id: 'forged-1', monitor_id: theirs, time, metrics },
      {
        job_id: 'forged-2',
        monitor_id: theirs,
        time: '2026-11-20T10:01:00.000Z',
        failure: { class: 'unreachable', message: 'forged' },
      },
      { job_id: 'own-1', monitor_id: mine, time, metrics },
    ]);
    l.kick();
    await waitFor('all acknowledged', async () => spool.stats().backlog === 0, 10_000, 50);
    const stored = await db.query('SELECT monitor_id FROM metrics WHERE monitor_id = ANY($1::int[])', [[mine, theirs]]);
    assert.deepEqual(
      stored.rows.map((r) => r.monitor_id),
      [mine],
      "only the agent's own monitor got a row",
    );
    const state = await db.query('SELECT consecutive_failures, last_error FROM monitors WHERE id = $1', [theirs]);
    assert.deepEqual(
      state.rows[0],
      { consecutive_failures: 0, last_error: null },
      "the other agent's monitor state is untouched",
    );
    await l.stop();
  } finally {
    await db.end();
  }
});

test('with a pinned fingerprint that does not match, the enrollment token is never sent', async () => {
  const cert = await selfSignedCert();
  let received = 0;
  const impostor = createHttpsServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    received++;
    req.resume();
    res.end('{}');
  });
  await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', r));
  try {
    const url = new URL(`https://127.0.0.1:${(impostor.address() as AddressInfo).port}/api/v1/agents/enroll`);
    await assert.rejects(
      postJson(url, { token: 'one-time-secret' }, { proxy: DIRECT, pin: 'ab'.repeat(32) }),
      /certificate/i,
      'pin mismatch',
    );
    assert.equal(received, 0, 'no request reached the impostor');
    const ok = await postJson(
      url,
      { token: 'x' },
      { proxy: DIRECT, pin: cert.fingerprint.replace(/:/g, '').toLowerCase() },
    );
    assert.equal(ok.status, 200, 'the right pin sends it');
    assert.equal(received, 1, 'exactly one request');
  } finally {
    impostor.close();
  }
});

test('enrolling again with new keys ends the session that still uses the old ones', async () => {
  const old = await enrolled('re-enrolled');
  let fatal = '';
  const l = await connectedLink(old, { onFatal: (r) => void (fatal = r) });
  const token = (await s.api('POST', `/api/v1/agents/${old.agent_id}/enrollment-token`)).body
    .enrollment_token as string;
  const { r } = await postEnroll(token);
  assert.equal(r.status, 200, 'enrolled again');
  await waitFor('old session refused', async () => fatal, 10_000, 50);
  assert.equal(l.connected(), false, 'the old keys are no longer connected');
  await l.stop();
});

test("values the database cannot store (an older agent's spool) are dropped row by row; the batch is acknowledged, not resent forever", async () => {
  const a = await enrolled('odd-values');
  const db = new pg.Client({ connectionString: s.dbUrl });
  await db.connect();
  try {
    const mon = await seedMonitor(db, a.agent_id, '10.78.0.1');
    const spool = createMemorySpool<SpooledResult>();
    const l = await connectedLink(a, { spool });
    await spool.append([
      {
        job_id: 'big',
        monitor_id: mon,
        time: '2026-11-20T10:00:00.000Z',
        metrics: { ...metrics, process_count: 3_000_000_000 },
      },
      { job_id: 'huge-id', monitor_id: 3_000_000_000, time: '2026-11-20T10:00:00.000Z', metrics },
      { job_id: 'good', monitor_id: mon, time: '2026-11-20T10:01:00.000Z', metrics },
    ]);
    l.kick();
    await waitFor('all acknowledged', async () => spool.stats().backlog === 0, 10_000, 50);
    const stored = await db.query('SELECT time FROM metrics WHERE monitor_id = $1', [mon]);
    assert.deepEqual(
      stored.rows.map((r) => (r.time as Date).toISOString()),
      ['2026-11-20T10:01:00.000Z'],
      'the storable row is stored',
    );
    assert.equal(l.stats().disconnects, 0, 'the session was never closed over it');
    await l.stop();
  } finally {
    await db.end();
  }
});
