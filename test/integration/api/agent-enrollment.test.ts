import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { generateAgentKeys } from '../../../agent/identity.ts';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { connectRaw, enrollRaw } from '../hub/raw-agent.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(() => s.stop());

const enroll = (body: unknown) => s.api('POST', '/api/v1/agents/enroll', body, null);

test('enrollment refusals are the API errors every other resource uses: 400 naming the field, 401, 403', async () => {
  const keys = generateAgentKeys();
  const created = (await s.api('POST', '/api/v1/agents', { name: 'enrol-errors' })).body;
  const token = created.enrollment_token as string;

  const badKey = await enroll({ token, sign_public_key: keys.seal_public_key, seal_public_key: keys.seal_public_key });
  assert.equal(badKey.status, 400);
  assert.equal(badKey.body.error.code, 'VALIDATION_ERROR');
  assert.deepEqual(badKey.body.error.details, {
    field: 'sign_public_key',
    reason: 'must be an ed25519 public key in SPKI PEM form',
  });
  const missing = await enroll({ token, sign_public_key: keys.sign_public_key });
  assert.equal(missing.status, 400);
  assert.equal(missing.body.error.details.field, 'seal_public_key');

  const ok = await enroll({ token, sign_public_key: keys.sign_public_key, seal_public_key: keys.seal_public_key });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.deepEqual(ok.body, { agent_id: created.agent.id, name: 'enrol-errors' });
  const again = await enroll({ token, sign_public_key: keys.sign_public_key, seal_public_key: keys.seal_public_key });
  assert.equal(again.status, 401);
  assert.equal(again.body.error.code, 'UNAUTHORIZED');
  assert.match(again.body.error.message, /not valid \(unknown, already used, or revoked\)/);

  const other = (await s.api('POST', '/api/v1/agents', { name: 'enrol-disabled' })).body;
  assert.equal((await s.api('PUT', `/api/v1/agents/${other.agent.id}`, { disabled: true })).status, 200);
  const disabled = await enroll({
    token: other.enrollment_token,
    sign_public_key: keys.sign_public_key,
    seal_public_key: keys.seal_public_key,
  });
  assert.equal(disabled.status, 403);
  assert.deepEqual([disabled.body.error.code, disabled.body.error.message], ['FORBIDDEN', 'this agent is disabled']);

  const audit = await s.server.pool.query(
    `SELECT actor, action, changes FROM audit_log WHERE entity_type = 'agent' AND entity_id = $1 AND action = 'enroll'`,
    [created.agent.id],
  );
  assert.deepEqual(
    audit.rows.map((r) => [r.actor, r.changes.status]),
    [['agent: enrol-errors', { from: 'pending', to: 'active' }]],
    'one enrolment, audited as the agent',
  );
});

test("an agent's presence is recorded through the agents service: version and hostname at hello, health with heartbeats, last seen at close", async () => {
  const id = await enrollRaw(s, 'presence');
  const before = Date.now();
  const agent = await connectRaw(s, id);
  const wait = async (what: string, ok: (a: any) => boolean) => {
    for (let i = 0; i < 100; i++) {
      const a = (await s.api('GET', `/api/v1/agents/${id.agent_id}`)).body;
      if (ok(a)) return a;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  const online = await wait('online', (a) => a.online && a.version === 'raw-test');
  assert.equal(online.hostname, 'raw');
  assert.ok(Date.parse(online.last_seen) >= before - 1000);
  agent.send({
    type: 'heartbeat',
    sent_at: Date.now(),
    health: { spool_backlog: 7, jobs_in_flight: 0, job_lateness_ms: 0, errors: {} },
  });
  const healthy = await wait('health', (a) => a.health?.spool_backlog === 7);
  assert.equal(healthy.offline.spool_backlog, 7);
  agent.close();
  await agent.closed;
  const gone = await wait('offline', (a) => !a.online);
  assert.ok(Date.parse(gone.last_seen) >= Date.parse(healthy.last_seen));
});
