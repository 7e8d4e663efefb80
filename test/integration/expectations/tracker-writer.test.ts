import { test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { usePooledDatabase } from '../../helpers/db.ts';
import { seedMonitors } from '../metrics/seed-monitors.ts';
import { createEventBus } from '../../../server/events.ts';
import { createExpectationTracker } from '../../../server/expectations/tracker.ts';
import { createMetricsWriter, type PollResult } from '../../../server/metrics/write.ts';
import { createHealthMonitor } from '../../../server/health/health-monitor.ts';
import { createManualClock } from '../../../server/expectations/clock.ts';
import { createTableServices } from '../../helpers/services.ts';
import { WRITER_DEFAULTS } from '../../helpers/config-defaults.ts';
import { WRITER_SAMPLE as sample } from '../../helpers/metric-samples.ts';

const silent = { info() {}, warn() {}, error() {}, debug() {} };
let pool: pg.Pool;
usePooledDatabase({ max: 4 }, (p) => {
  pool = p;
});

test('missing results become agent_offline, then timeout, in last_error only; agent failures still count and deactivate', async () => {
  const { monitorIds, deviceIds, agentId } = await seedMonitors(pool, 2);
  const [id, other] = monitorIds as [number, number];
  const IV = 60_000;
  const clock = createManualClock(Date.now());
  const online = new Set<number>();
  const writes: Promise<void>[] = [];
  const writer = createMetricsWriter({ ...WRITER_DEFAULTS, pool, log: silent, flushMs: 1 });
  const tracker = createExpectationTracker({
    log: silent,
    clock,
    graceMs: 15_000,
    isAgentOnline: (a) => online.has(a),
    report: (rs) => void writes.push(writer.write(rs)),
  });
  const events = createEventBus();
  const { devices } = createTableServices(pool, events);
  const health = createHealthMonitor({ devices, events, log: silent as never, threshold: 1, windowMs: 3_600_000 });
  writer.onCommit((o) => tracker.observeOutcomes(o));
  writer.onCommit((o) => health.observe(o));
  const settle = async () => {
    await Promise.all(writes.splice(0));
    await writer.flush();
    await new Promise((r) => setImmediate(r));
    await health.settled();
  };
  const agent = (r: PollResult) => writer.write([r]);
  const row = async (m = id) => (await pool.query('SELECT * FROM monitors WHERE id = $1', [m])).rows[0];
  const deviceStatus = async () =>
    (await pool.query('SELECT status FROM devices WHERE id = $1', [deviceIds[0]])).rows[0].status;

  tracker.set({ monitor_id: id, agent_id: agentId, interval_ms: IV });
  tracker.set({ monitor_id: other, agent_id: agentId, interval_ms: IV });
  tracker.start();
  const first = tracker.nextExpected(id)!;

  clock.advance(Math.max(first, tracker.nextExpected(other)!) + IV + 16_000 - clock.now());
  await settle();
  let m = await row();
  assert.deepEqual(
    [m.last_error_class, m.last_error_at.getTime(), m.consecutive_failures, m.last_attempted],
    ['agent_offline', first, 0, null],
  );
  assert.match(m.last_error, /agent is offline/);
  assert.equal(await deviceStatus(), 'active', 'the health monitor ignored it (threshold 1)');
  assert.equal(tracker.stats().overdue, 2);

  online.add(agentId);
  const slot = first + 2 * IV;
  await agent({ monitor_id: id, time: new Date(slot), ok: true, sample, attempts: 1 });
  await settle();
  assert.equal(tracker.stats().overdue, 1, "the agent's result, committed, ended that monitor's streak");
  assert.equal(tracker.nextExpected(id), slot + IV);
  m = await row();
  assert.deepEqual(
    [m.last_polled.getTime(), m.last_attempted.getTime(), m.last_error_class],
    [slot, slot, 'agent_offline'],
  );

  clock.advance(slot + 2 * IV + 16_000 - clock.now());
  await settle();
  m = await row();
  assert.deepEqual(
    [m.last_error_class, m.last_error_at.getTime(), m.consecutive_failures],
    ['timeout', slot + IV, 0],
    'connected agent, no result: timeout, not counted',
  );
  assert.equal(await deviceStatus(), 'active');
  assert.equal(
    (await pool.query('SELECT count(*)::int AS n FROM metrics WHERE monitor_id = ANY($1)', [monitorIds])).rows[0].n,
    1,
    'made-up failures store no rows',
  );

  await agent({
    monitor_id: id,
    time: new Date(slot + IV),
    ok: false,
    attempts: 3,
    failure: { class: 'unreachable', message: 'no route to host' },
  });
  await settle();
  m = await row();
  assert.deepEqual(
    [m.last_error_class, m.consecutive_failures, m.last_attempted.getTime()],
    ['unreachable', 1, slot + IV],
    "the agent's late result for that slot replaces the made-up one",
  );
  assert.equal(await deviceStatus(), 'inactive', 'and the health monitor counts agent-reported failures as before');

  tracker.stop();
  await writer.close();
});
