import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestDatabase } from '../../helpers/db.ts';
import { createManualClock } from '../../../server/scheduler/clock.ts';
import { createScheduler, type PollJob } from '../../../server/scheduler/scheduler.ts';
import { seedMonitors } from '../metrics/seed-monitors.ts';

const silent = { info() {}, warn() {}, error() {}, debug() {} };
let db: Awaited<ReturnType<typeof startTestDatabase>>;
let pool: pg.Pool;

before(async () => {
  db = await startTestDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 3 });
});
after(async () => {
  await pool?.end();
  await db?.stop();
});

test('loads enabled monitors of active and discovered devices only, and batches attempt and agent-offline state', async () => {
  const active = await seedMonitors(pool, 3, 'active');
  const inactive = await seedMonitors(pool, 2, 'inactive');
  const discovered = await seedMonitors(pool, 1, 'discovered');
  await pool.query('UPDATE monitors SET enabled = false WHERE id = $1', [active.monitorIds[2]]);
  const clock = createManualClock(Date.now());
  const sent: PollJob[] = [];
  const sched = createScheduler({
    pool,
    log: silent,
    clock,
    isAgentOnline: (a) => a !== discovered.agentId,
    dispatch: (_a, jobs) => (sent.push(...jobs), jobs.length),
    config: { stateFlushMs: 120_000 },
  });
  await sched.start();
  const mine = new Set([...active.monitorIds, ...inactive.monitorIds, ...discovered.monitorIds]);
  clock.advance(60_000);
  await sched.flush();
  const dispatchedMine = sent.filter((j) => mine.has(j.monitor_id)).map((j) => j.monitor_id).sort((a, b) => a - b);
  assert.deepEqual(dispatchedMine, active.monitorIds.slice(0, 2));
  assert.equal(sent.find((j) => j.monitor_id === active.monitorIds[0])!.ip, '10.9.0.0');
  const rows = (await pool.query('SELECT id, last_attempted, last_error, last_error_class, consecutive_failures FROM monitors WHERE id = ANY($1) ORDER BY id', [[...mine]])).rows;
  const byId = new Map(rows.map((r) => [r.id, r]));
  assert.ok(byId.get(active.monitorIds[0])!.last_attempted instanceof Date);
  assert.equal(byId.get(active.monitorIds[2])!.last_attempted, null, 'disabled monitor untouched');
  assert.equal(byId.get(inactive.monitorIds[0])!.last_attempted, null, 'inactive device untouched');
  const off = byId.get(discovered.monitorIds[0])!;
  assert.equal(off.last_error, 'agent offline');
  assert.equal(off.last_error_class, 'agent_offline');
  assert.equal(off.consecutive_failures, 0, 'a cut link does not count against the host');

  await pool.query(`UPDATE devices SET status = 'inactive' WHERE id = $1`, [active.deviceIds[0]]);
  await sched.refreshDevice(active.deviceIds[0]!);
  assert.equal(sched.nextDue(active.monitorIds[0]!), undefined);
  await pool.query(`UPDATE devices SET status = 'active' WHERE id = $1`, [active.deviceIds[0]]);
  await sched.refreshDevice(active.deviceIds[0]!);
  assert.ok(sched.nextDue(active.monitorIds[0]!)! > clock.now() - 1);
  await sched.stop();
});
