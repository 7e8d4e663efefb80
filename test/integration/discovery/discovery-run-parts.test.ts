import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import { createEventBus } from '../../../server/events.ts';
import { createDiscoveryRunService } from '../../../server/services/discovery-runs.ts';
import { createTableServices } from '../../helpers/services.ts';
import { usePooledDatabase } from '../../helpers/db.ts';

let pool: pg.Pool;
usePooledDatabase({ max: 4 }, (p) => {
  pool = p;
});

const silent = { info() {}, warn() {}, error() {}, debug() {} };
const host = (i: number) => ({
  ip: `10.20.${(i + 1) >> 8}.${(i + 1) & 255}`,
  port: 5985,
  use_ssl: false,
  hostname: `H${i}`,
  os: 'Windows',
  os_version: '10.0',
  winrm_stack: '3.0',
});

test('a discovery result in parts is stored part after part and the run completes with the last one', async () => {
  const agent = (await pool.query(`INSERT INTO agents (name, status) VALUES ('parts', 'active') RETURNING id`)).rows[0]
    .id as number;
  const cred = (
    await pool.query(
      `INSERT INTO credential_profiles (name, type, username, password_enc, key_id, port) VALUES ('parts-c', 'winrm_basic', 'u', 'x', 'k', 5985) RETURNING id`,
    )
  ).rows[0].id as number;
  const profileId = (
    await pool.query(
      `INSERT INTO discovery_profiles (name, agent_id, credential_profile_id, target) VALUES ('parts-d', $1, $2, '10.20.0.0/16') RETURNING id`,
      [agent, cred],
    )
  ).rows[0].id as number;
  const profile = {
    id: profileId,
    agent_id: agent,
    credential_profile_id: cred,
    target: '10.20.0.0/16',
    port_scan: false,
    auto_provision: false,
    plugin_id: null,
    polling_interval: 60,
  };
  const events = createEventBus();
  const svc = createDiscoveryRunService({
    ...createTableServices(pool, events),
    events,
    log: silent as never,
    waitMs: 10,
    runTimeoutMs: 60_000,
    agents: {
      isOnline: () => true,
      send: () => true,
      sealFor: async () => ({ profile_id: cred, version: 1, sealed: 'x' }),
    },
    getProfile: async () => profile,
    getCredential: async () => ({ port: 5985, use_ssl: false }),
  });
  const started = await svc.start(profileId);
  assert.equal(started.status, 'running');
  const runId = started.run_id;
  // Delivered back to back, as messages from one socket are: the service must not interleave them.
  const first = svc.onResult(agent, {
    run_id: runId,
    scanned: 500,
    total: 500,
    devices: Array.from({ length: 30 }, (_, i) => host(i)),
    more: true,
  });
  const second = svc.onResult(agent, {
    run_id: runId,
    scanned: 500,
    total: 500,
    devices: Array.from({ length: 30 }, (_, i) => host(30 + i)),
    more: true,
  });
  assert.equal(svc.get(runId).status, 'running', 'still running while parts arrive');
  const last = svc.onResult(agent, { run_id: runId, scanned: 500, total: 500, devices: [host(60)] });
  await Promise.all([first, second, last]);
  const run = svc.get(runId);
  assert.deepEqual([run.status, run.found, run.devices.length], ['completed', 61, 61], 'every part counted once');
  assert.deepEqual(
    run.devices.map((d) => d.ip),
    Array.from({ length: 61 }, (_, i) => host(i).ip),
    'in order',
  );
  assert.equal(
    (await pool.query('SELECT count(*)::int AS n FROM devices WHERE agent_id = $1', [agent])).rows[0].n,
    61,
    'stored',
  );
});
