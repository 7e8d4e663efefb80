import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import { AppError } from '../../../server/errors.ts';
import { createEventBus } from '../../../server/events.ts';
import { createDiscoveryRunService } from '../../../server/services/discovery-runs.ts';
import { createTableServices } from '../../helpers/services.ts';
import { usePooledDatabase } from '../../helpers/db.ts';

// One run per profile at a time, also when two starts arrive together: the check and the claim
// must not have an await between them (start reads the credential, seals it and writes the audit
// entry before the run exists; two starts used to both pass the check during those awaits).
let pool: pg.Pool;
usePooledDatabase({ max: 4 }, (p) => {
  pool = p;
});

const silent = { info() {}, warn() {}, error() {}, debug() {} };

test('two starts of one profile at once: one run, the other a conflict; a start that fails frees the profile', async () => {
  const agent = (await pool.query(`INSERT INTO agents (name, status) VALUES ('conflict', 'active') RETURNING id`))
    .rows[0].id as number;
  const cred = (
    await pool.query(
      `INSERT INTO credential_profiles (name, type, username, password_enc, key_id, port) VALUES ('conflict-c', 'winrm_basic', 'u', 'x', 'k', 5985) RETURNING id`,
    )
  ).rows[0].id as number;
  const profileId = (
    await pool.query(
      `INSERT INTO discovery_profiles (name, agent_id, credential_profile_id, target) VALUES ('conflict-d', $1, $2, '10.30.0.0/24') RETURNING id`,
      [agent, cred],
    )
  ).rows[0].id as number;
  const profile = {
    id: profileId,
    agent_id: agent,
    credential_profile_id: cred,
    target: '10.30.0.0/24',
    port_scan: false,
    auto_provision: false,
    plugin_id: null,
    polling_interval: 60,
  };
  const events = createEventBus();
  const sent: string[] = [];
  let sealFails = 0;
  const svc = createDiscoveryRunService({
    ...createTableServices(pool, events),
    events,
    log: silent as never,
    waitMs: 10,
    runTimeoutMs: 60_000,
    agents: {
      isOnline: () => true,
      send: (_id, m) => {
        if (m.type === 'discovery.start') sent.push(m.job.run_id);
        return true;
      },
      sealFor: async () => {
        if (sealFails > 0) {
          sealFails--;
          throw new AppError('INTERNAL', 'sealing failed (test)');
        }
        return { profile_id: cred, version: 1, sealed: 'x' };
      },
    },
    getProfile: async () => profile,
    getCredential: async () => ({ port: 5985, use_ssl: false }),
  });

  // A start that fails after the check leaves the profile free for the next one.
  sealFails = 1;
  await assert.rejects(svc.start(profileId), /sealing failed/);
  assert.deepEqual(sent, [], 'nothing sent to the agent');

  const both = await Promise.allSettled([svc.start(profileId), svc.start(profileId)]);
  const started = both.filter((r) => r.status === 'fulfilled');
  const refused = both.filter((r) => r.status === 'rejected');
  assert.equal(started.length, 1, 'exactly one of two simultaneous starts runs');
  assert.equal(refused.length, 1);
  const err = (refused[0] as PromiseRejectedResult).reason as AppError;
  assert.equal(err.code, 'CONFLICT');
  assert.match(err.message, /already in progress/);
  const run = (started[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof svc.start>>>).value;
  assert.equal(run.status, 'running');
  assert.deepEqual(sent, [run.run_id], 'one discovery sent to the agent');
  assert.equal(err.details?.run_id, run.run_id, 'the conflict names the run');

  // Once the run ends (the agent reports it cancelled), the profile can run again.
  const cancelled = { scanned: 0, total: 256, devices: [], cancelled: true };
  await svc.onResult(agent, { run_id: run.run_id, ...cancelled });
  assert.equal(svc.get(run.run_id).status, 'cancelled');
  const again = await svc.start(profileId);
  assert.equal(again.status, 'running');
  await svc.onResult(agent, { run_id: again.run_id, ...cancelled });
});
