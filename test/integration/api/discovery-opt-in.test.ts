import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { createEventBus } from '../../../server/events.ts';
import { createDiscoveryRunService } from '../../../server/services/discovery-runs.ts';
import { createTableServices } from '../../helpers/services.ts';

// Issue 13, finding 4 (server side): a discovery profile sends its credential to unproven hosts
// only when it says so, and the agent is told.
let s: TestServer;
let pool: pg.Pool;
before(async () => {
  s = await startTestServer();
  pool = new pg.Pool({ connectionString: s.dbUrl, max: 2 });
});
after(async () => {
  await pool.end();
  await s.stop();
});

test('authenticate_unverified is false unless set, can be changed, and must be a boolean', async () => {
  const agent = (await s.api('POST', '/api/v1/agents', { name: 'opt-in-site' })).body;
  const cred = (
    await s.api('POST', '/api/v1/credential-profiles', {
      name: 'opt-in-cred',
      type: 'winrm_ntlm',
      username: 'u',
      password: 'p',
    })
  ).body;
  const p = await s.api('POST', '/api/v1/discovery-profiles', {
    name: 'opt-in',
    agent_id: agent.agent.id,
    credential_profile_id: cred.id,
    target: '10.9.0.0/24',
  });
  assert.equal(p.status, 201, JSON.stringify(p.body));
  assert.equal(p.body.authenticate_unverified, false);
  const on = await s.api('PUT', `/api/v1/discovery-profiles/${p.body.id}`, { authenticate_unverified: true });
  assert.equal(on.body.authenticate_unverified, true);
  assert.equal((await s.api('GET', `/api/v1/discovery-profiles/${p.body.id}`)).body.authenticate_unverified, true);
  const bad = await s.api('PUT', `/api/v1/discovery-profiles/${p.body.id}`, { authenticate_unverified: 'yes' });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.details.field, 'authenticate_unverified');
});

test('the discovery job tells the agent whether the profile opted in', async () => {
  const sent: unknown[] = [];
  const profile = {
    id: 1,
    agent_id: 1,
    credential_profile_id: 1,
    target: '10.9.0.1',
    port_scan: false,
    auto_provision: false,
    plugin_id: null,
    polling_interval: 60,
  };
  for (const [opt, want] of [
    [undefined, false],
    [false, false],
    [true, true],
  ] as const) {
    const events = createEventBus();
    const svc = createDiscoveryRunService({
      ...createTableServices(pool, events),
      events,
      log: { info() {}, warn() {}, error() {}, debug() {} } as never,
      waitMs: 1,
      runTimeoutMs: 60_000,
      agents: {
        isOnline: () => true,
        send: (_id: number, m: unknown) => (sent.push(m), true),
        sealFor: async () => ({ profile_id: 1, version: 1, sealed: 'x' }),
      },
      getProfile: async () => (opt === undefined ? profile : { ...profile, authenticate_unverified: opt }),
      getCredential: async () => ({ port: 5985, use_ssl: false }),
    });
    const r = await svc.start(1);
    const job = (sent.pop() as { job: { authenticate_unverified: boolean } }).job;
    svc.cancel(r.run_id);
    assert.equal(job.authenticate_unverified, want, `profile value ${opt}`);
  }
});
