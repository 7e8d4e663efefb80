import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { applyRetention } from '../../../server/metrics/retention.ts';

let s: TestServer;
let db: pg.Client;
let monitorId: number;
const T0 = Date.parse('2026-11-22T00:00:00Z');
before(async () => {
  s = await startTestServer({ metrics: { max_raw_points: 500, latest_cache_ms: 0 } });
  db = new pg.Client({ connectionString: s.dbUrl });
  await db.connect();
  const agent = (await s.api('POST', '/api/v1/agents', { name: 'hist' })).body;
  const cred = (await s.api('POST', '/api/v1/credential-profiles', { name: 'hist', type: 'winrm_basic', username: 'u', password: 'p' })).body;
  const dev = (await s.api('POST', '/api/v1/devices', { agent_id: agent.agent.id, ip: '10.50.0.1' })).body;
  monitorId = (await s.api('POST', '/api/v1/monitors', { device_id: dev.id, credential_profile_id: cred.id, plugin_id: 1, enabled: false })).body.id;
  // One day at one sample a minute: cpu climbs 0..99 within each 100 minutes; memory half used.
  await db.query(
    `INSERT INTO metrics (time, monitor_id, cpu_percent, memory_total, memory_used, disk_total, disk_used, net_sent_ps, net_recv_ps, net_utilization, process_count, collection_ms)
     SELECT to_timestamp($2 / 1000.0) + make_interval(mins => i), $1, i % 100, 8000000000, 4000000000, 100000000000, 25000000000, 1000, 2000, 1.5, 100 + i % 10, 5
       FROM generate_series(0, 1439) AS i`,
    [monitorId, T0],
  );
});
after(async () => {
  await db.end();
  await s.stop();
});

test('latest metrics derive memory and disk percentages at query time (seed 002 Get Metrics shape)', async () => {
  const r = await s.api('GET', `/api/v1/monitors/${monitorId}/metrics`);
  assert.equal(r.status, 200);
  assert.equal(r.body.timestamp, new Date(T0 + 1439 * 60_000).toISOString());
  assert.equal(r.body.memory.usage_percent, 50);
  assert.equal(r.body.disk.usage_percent, 25);
  assert.equal(r.body.cpu.usage_percent, 39);
  assert.equal(r.body.network.utilization_percent, 1.5);
  assert.equal(r.body.process_count, 109);
});

test('raw history returns the samples in range; too wide a raw range is a 400 that suggests a bucket', async () => {
  const from = new Date(T0).toISOString();
  const raw = await s.api('GET', `/api/v1/monitors/${monitorId}/metrics/history?from=${from}&to=${new Date(T0 + 60 * 60_000).toISOString()}`);
  assert.equal(raw.status, 200);
  assert.equal(raw.body.data.length, 60);
  assert.equal(raw.body.bucket, null);
  const wide = await s.api('GET', `/api/v1/monitors/${monitorId}/metrics/history?from=${from}&to=${new Date(T0 + 86400_000).toISOString()}`);
  assert.equal(wide.status, 400);
  assert.equal(wide.body.error.details.field, 'bucket');
  assert.match(wide.body.error.message, /bucket=5m/);
});

test('bucketed history averages per bucket with date_bin on plain PostgreSQL', async () => {
  const r = await s.api('GET', `/api/v1/monitors/${monitorId}/metrics/history?from=${new Date(T0).toISOString()}&to=${new Date(T0 + 86400_000).toISOString()}&bucket=5m`);
  assert.equal(r.status, 200);
  assert.equal(r.body.data.length, 288);
  assert.equal(r.body.data[0].timestamp, new Date(T0).toISOString());
  assert.equal(r.body.data[0].cpu.usage_percent, 2, 'mean of 0..4');
  assert.equal(r.body.data[1].cpu.usage_percent, 7, 'mean of 5..9');
  assert.equal(r.body.data[0].memory.usage_percent, 50);
  const bad = await s.api('GET', `/api/v1/monitors/${monitorId}/metrics/history?from=${new Date(T0).toISOString()}&bucket=5x`);
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.details.field, 'bucket');
});

test("multi-day buckets start where TimescaleDB's time_bucket starts them (Mondays, origin 2000-01-03)", async () => {
  // T0 is Sunday 2026-11-22: its 7-day bucket is the week from Monday 2026-11-16.
  const r = await s.api('GET', `/api/v1/monitors/${monitorId}/metrics/history?from=${new Date(T0).toISOString()}&to=${new Date(T0 + 86400_000).toISOString()}&bucket=7d`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.data.map((p: { timestamp: string }) => p.timestamp), ['2026-11-16T00:00:00.000Z'], 'one bucket, starting Monday');
});

test('the same history through tRPC', async () => {
  const input = encodeURIComponent(JSON.stringify({ id: monitorId, from: new Date(T0).toISOString(), to: new Date(T0 + 3600_000).toISOString(), bucket: '1h' }));
  const r = await s.api('GET', `/trpc/monitors.metricsHistory?input=${input}`);
  assert.equal(r.status, 200);
  assert.equal(r.body.result.data.data.length, 1);
  assert.equal(r.body.result.data.data[0].cpu.usage_percent, 29.5, 'mean of 0..59');
});

test('retention deletes metrics older than the configured days on plain PostgreSQL, and nothing by default', async () => {
  const pool = new pg.Pool({ connectionString: s.dbUrl });
  const log = s.server.log;
  const count = async () => Number((await db.query('SELECT count(*) AS n FROM metrics WHERE monitor_id = $1', [monitorId])).rows[0].n);
  await db.query('INSERT INTO metrics (time, monitor_id, cpu_percent) VALUES (now() - interval \'40 days\', $1, 1), (now(), $1, 2)', [monitorId]);
  const before = await count();
  (await applyRetention({ pool, mode: 'plain', log, retentionDays: 0, compressAfterDays: 7 }))();
  assert.equal(await count(), before, 'keep forever by default');
  (await applyRetention({ pool, mode: 'plain', log, retentionDays: 30, compressAfterDays: 7 }))();
  assert.equal(await count(), before - 1, 'only the 40-day-old sample is gone');
  await pool.end();
});
