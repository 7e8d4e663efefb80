import { test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { forEachBackend, usePooledDatabase } from '../../helpers/db.ts';
import { createMetricsWriter, type PollResult, type WriteOutcome } from '../../../server/metrics/write.ts';
import { createEventBus } from '../../../server/events.ts';
import { createTableServices } from '../../helpers/services.ts';
import { seedMonitors } from './seed-monitors.ts';
import { WRITER_DEFAULTS } from '../../helpers/config-defaults.ts';

const silent = { info() {}, warn() {}, error() {}, debug() {} };
// The whole file once per storage backend (plain PostgreSQL, TimescaleDB), each in a fresh database;
// the body below is deliberately not re-indented.
forEachBackend((backend) => {
  let pool: pg.Pool;
  usePooledDatabase({ backend, max: 4 }, (p) => {
    pool = p;
  });

  const sample = (cpu: number) => ({
    cpu_percent: cpu,
    memory_total: 16_000,
    memory_used: 4_000,
    disk_total: 1_000_000,
    disk_used: 250_000,
    net_sent_ps: 10.5,
    net_recv_ps: 20,
    net_utilization: 3,
    packets_sent: 1,
    packets_recv: 2,
    net_errors: 0,
    net_dropped: 0,
    process_count: 90,
    collection_ms: 12,
  });

  test('the same batch written twice stores one row per (monitor, time) and both writes resolve', async () => {
    const { monitorIds } = await seedMonitors(pool, 3);
    const t = new Date('2026-11-01T10:00:00Z');
    const batch: PollResult[] = monitorIds.flatMap((id, i) => [
      { monitor_id: id, time: t, agent_seq: i, ok: true as const, sample: sample(10 + i) },
      {
        monitor_id: id,
        time: new Date(t.getTime() + 60_000),
        agent_seq: 10 + i,
        ok: true as const,
        sample: sample(20 + i),
      },
    ]);
    const writer = createMetricsWriter({ ...WRITER_DEFAULTS, pool, log: silent, batchSize: 100, flushMs: 10 });
    await Promise.all([writer.write(batch), writer.write(batch)]);
    await writer.write(batch);
    const r = await pool.query(
      'SELECT monitor_id, count(*)::int AS n FROM metrics WHERE monitor_id = ANY($1) GROUP BY 1',
      [monitorIds],
    );
    assert.deepEqual(
      r.rows.map((x) => x.n),
      [2, 2, 2],
    );
    const one = await pool.query(
      'SELECT cpu_percent, net_sent_ps, memory_used FROM metrics WHERE monitor_id = $1 AND time = $2',
      [monitorIds[1], t],
    );
    assert.deepEqual(one.rows[0], { cpu_percent: 11, net_sent_ps: 10.5, memory_used: '4000' });
    await writer.close();
  });

  test('monitor state changes in the same transaction: failures count up, a success resets and sets last_polled', async () => {
    const { monitorIds, deviceIds } = await seedMonitors(pool, 1);
    const id = monitorIds[0]!;
    const outcomes: WriteOutcome[] = [];
    const writer = createMetricsWriter({ ...WRITER_DEFAULTS, pool, log: silent, batchSize: 10, flushMs: 5 });
    writer.onCommit((o) => outcomes.push(...o));
    const t0 = Date.parse('2026-11-02T00:00:00Z');
    const fail = (i: number, cls: 'auth' | 'timeout'): PollResult => ({
      monitor_id: id,
      time: new Date(t0 + i * 60_000),
      ok: false,
      failure: { class: cls, message: `failure ${i}` },
    });
    await writer.write([fail(0, 'auth'), fail(1, 'auth')]);
    let m = (await pool.query('SELECT * FROM monitors WHERE id = $1', [id])).rows[0];
    assert.equal(m.consecutive_failures, 2);
    assert.equal(m.last_error, 'failure 1');
    assert.equal(m.last_error_class, 'auth');
    assert.equal(m.last_error_at.getTime(), t0 + 60_000);
    assert.equal(m.last_polled, null);
    await writer.write([fail(1, 'auth')]);
    m = (await pool.query('SELECT * FROM monitors WHERE id = $1', [id])).rows[0];
    assert.equal(m.consecutive_failures, 2, 'a replayed failure is not counted twice');
    await writer.write([fail(2, 'timeout')]);
    m = (await pool.query('SELECT * FROM monitors WHERE id = $1', [id])).rows[0];
    assert.equal(m.consecutive_failures, 3);
    assert.equal(m.last_error_class, 'timeout');
    await writer.write([{ monitor_id: id, time: new Date(t0 + 180_000), ok: true, sample: sample(5) }]);
    m = (await pool.query('SELECT * FROM monitors WHERE id = $1', [id])).rows[0];
    assert.equal(m.consecutive_failures, 0);
    assert.equal(m.last_polled.getTime(), t0 + 180_000);
    assert.equal(m.last_error_class, 'timeout', 'last error kept as history beside last_polled');
    assert.deepEqual(
      outcomes.map((o) => [o.device_id, o.ok]),
      [
        [deviceIds[0], false],
        [deviceIds[0], false],
        [deviceIds[0], false],
        [deviceIds[0], false],
        [deviceIds[0], true],
      ],
    );
    await writer.close();
  });

  test('results for a deleted monitor are dropped without failing the rest of the batch', async () => {
    const { monitorIds } = await seedMonitors(pool, 2);
    await pool.query('DELETE FROM monitors WHERE id = $1', [monitorIds[0]]);
    const t = new Date('2026-11-03T00:00:00Z');
    const writer = createMetricsWriter({ ...WRITER_DEFAULTS, pool, log: silent });
    await writer.write(monitorIds.map((id) => ({ monitor_id: id, time: t, ok: true as const, sample: sample(1) })));
    const r = await pool.query('SELECT monitor_id FROM metrics WHERE time = $1', [t]);
    assert.deepEqual(
      r.rows.map((x) => x.monitor_id),
      [monitorIds[1]],
    );
    await writer.close();
  });

  test('values PostgreSQL refuses are dropped one result at a time; the rest is stored and the write resolves (no resend loop)', async () => {
    const { monitorIds } = await seedMonitors(pool, 3);
    const t = new Date('2026-11-04T00:00:00Z');
    const writer = createMetricsWriter({ ...WRITER_DEFAULTS, pool, log: silent });
    // What the shared schemas now refuse, as an older agent could still have it spooled.
    const batch: PollResult[] = [
      { monitor_id: monitorIds[0]!, time: t, ok: true, sample: sample(1) },
      { monitor_id: monitorIds[1]!, time: t, ok: true, sample: { ...sample(2), process_count: 3_000_000_000 } },
      {
        monitor_id: monitorIds[2]!,
        time: t,
        ok: false,
        failure: { class: 'plugin_error', message: 'bad\u0000output' },
      },
      { monitor_id: monitorIds[2]!, time: new Date(t.getTime() + 60_000), ok: true, sample: sample(3) },
    ];
    await writer.write(batch);
    const r = await pool.query(
      'SELECT monitor_id, cpu_percent FROM metrics WHERE time >= $1 ORDER BY monitor_id, time',
      [t],
    );
    assert.deepEqual(
      r.rows.map((x) => [x.monitor_id, x.cpu_percent]),
      [
        [monitorIds[0], 1],
        [monitorIds[2], 3],
      ],
      'the storable results are stored',
    );
    assert.equal(writer.stats().rejectedResults, 2, 'the two refused results are counted');
    await writer.write([
      { monitor_id: monitorIds[1]!, time: new Date(t.getTime() + 60_000), ok: true, sample: sample(4) },
    ]);
    assert.equal(
      (await pool.query('SELECT count(*)::int AS n FROM metrics WHERE monitor_id = $1', [monitorIds[1]])).rows[0].n,
      1,
      'later writes go through',
    );
    await writer.close();
  });

  const state = async (id: number) => (await pool.query('SELECT * FROM monitors WHERE id = $1', [id])).rows[0];
  const at = (t: number) => new Date(t);

  test('last_attempted follows every agent result, failed ones too, and never goes back', async () => {
    const { monitorIds } = await seedMonitors(pool, 1);
    const id = monitorIds[0]!;
    const t0 = Date.parse('2026-11-05T00:00:00Z');
    const writer = createMetricsWriter({ ...WRITER_DEFAULTS, pool, log: silent, flushMs: 5 });
    await writer.write([
      {
        monitor_id: id,
        time: at(t0 + 60_000),
        ok: false,
        attempts: 3,
        failure: { class: 'unreachable', message: 'no route' },
      },
    ]);
    let m = await state(id);
    assert.equal(m.last_attempted.getTime(), t0 + 60_000, 'a failed poll was attempted');
    assert.equal(m.last_polled, null);
    await writer.write([{ monitor_id: id, time: at(t0), ok: true, sample: sample(1) }]);
    m = await state(id);
    assert.equal(m.last_attempted.getTime(), t0 + 60_000, 'an older replayed result does not move it back');
    assert.equal(m.last_polled.getTime(), t0);
    assert.equal(m.consecutive_failures, 1, 'an older success does not erase a newer failure');
    await writer.write([{ monitor_id: id, time: at(t0 + 120_000), ok: true, sample: sample(2) }]);
    m = await state(id);
    assert.equal(m.last_attempted.getTime(), t0 + 120_000);
    assert.equal(m.last_polled.getTime(), t0 + 120_000);
    assert.equal(m.consecutive_failures, 0);
    await writer.close();
  });

  test('a server-made failure sets last_error only when newer, stores no row, never counts and never moves last_attempted', async () => {
    const { monitorIds, deviceIds } = await seedMonitors(pool, 1);
    const id = monitorIds[0]!;
    const t0 = Date.parse('2026-11-06T00:00:00Z');
    const outcomes: WriteOutcome[] = [];
    const writer = createMetricsWriter({ ...WRITER_DEFAULTS, pool, log: silent, flushMs: 5 });
    writer.onCommit((o) => outcomes.push(...o));
    const server = (t: number, cls: 'timeout' | 'agent_offline'): PollResult => ({
      monitor_id: id,
      time: at(t),
      ok: false,
      source: 'server',
      failure: { class: cls, message: `server ${cls}` },
    });
    await writer.write([
      { monitor_id: id, time: at(t0), ok: false, failure: { class: 'auth', message: 'bad password' } },
    ]);
    await writer.write([server(t0 + 60_000, 'timeout')]);
    let m = await state(id);
    assert.deepEqual(
      [m.last_error_class, m.last_error, m.last_error_at.getTime()],
      ['timeout', 'server timeout', t0 + 60_000],
    );
    assert.equal(m.consecutive_failures, 1, 'not counted');
    assert.equal(m.last_attempted.getTime(), t0, 'the agent attempted nothing at that slot');
    await writer.write([server(t0 - 60_000, 'agent_offline')]);
    m = await state(id);
    assert.equal(m.last_error_class, 'timeout', 'an older server-made failure changes nothing');
    await writer.write([
      { monitor_id: id, time: at(t0 + 60_000), ok: false, failure: { class: 'unreachable', message: 'late but real' } },
    ]);
    m = await state(id);
    assert.deepEqual(
      [m.last_error_class, m.consecutive_failures],
      ['unreachable', 2],
      "the agent's own result for the same slot replaces the made-up one, and counts",
    );
    await writer.write([
      { monitor_id: id, time: at(t0 + 120_000), ok: true, sample: sample(3) },
      server(t0 + 90_000, 'timeout'),
    ]);
    await writer.write([server(t0 + 120_000, 'agent_offline')]);
    m = await state(id);
    assert.equal(m.last_error_class, 'unreachable', 'no made-up failure at or before a stored agent result');
    assert.equal(m.consecutive_failures, 0);
    const rows = await pool.query('SELECT count(*)::int AS n FROM metrics WHERE monitor_id = $1', [id]);
    assert.equal(rows.rows[0].n, 1, 'only the agent sample is stored');
    assert.deepEqual(
      outcomes.map((o) => [o.source, o.ok, o.failure_class ?? null]),
      [
        ['agent', false, 'auth'],
        ['server', false, 'timeout'],
        ['server', false, 'agent_offline'],
        ['agent', false, 'unreachable'],
        ['agent', true, null],
        ['server', false, 'timeout'],
        ['server', false, 'agent_offline'],
      ],
    );
    assert.ok(outcomes.every((o) => o.device_id === deviceIds[0]));
    await writer.close();
  });

  test('agent_offline failures never count in consecutive_failures', async () => {
    const { monitorIds } = await seedMonitors(pool, 1);
    const id = monitorIds[0]!;
    const t0 = Date.parse('2026-11-07T00:00:00Z');
    const writer = createMetricsWriter({ ...WRITER_DEFAULTS, pool, log: silent, flushMs: 5 });
    const offline = (i: number): PollResult => ({
      monitor_id: id,
      time: at(t0 + i * 60_000),
      ok: false,
      failure: { class: 'agent_offline', message: 'offline' },
    });
    await writer.write([offline(0), offline(1)]);
    let m = await state(id);
    assert.deepEqual(
      [m.consecutive_failures, m.last_error_class, m.last_attempted.getTime()],
      [0, 'agent_offline', t0 + 60_000],
    );
    await writer.write([
      { monitor_id: id, time: at(t0 + 120_000), ok: false, failure: { class: 'unreachable', message: 'down' } },
      offline(3),
    ]);
    m = await state(id);
    assert.deepEqual([m.consecutive_failures, m.last_error_class], [1, 'agent_offline']);
    await writer.close();
  });

  test('a made-up failure between agent failures does not hide the later-arriving ones from the count', async () => {
    const { monitorIds } = await seedMonitors(pool, 1);
    const id = monitorIds[0]!;
    const t0 = Date.parse('2026-11-08T00:00:00Z');
    const writer = createMetricsWriter({ ...WRITER_DEFAULTS, pool, log: silent, flushMs: 5 });
    const agent = (i: number): PollResult => ({
      monitor_id: id,
      time: at(t0 + i * 60_000),
      ok: false,
      failure: { class: 'timeout', message: `agent ${i}` },
    });
    await writer.write([agent(0)]);
    await writer.write([
      {
        monitor_id: id,
        time: at(t0 + 120_000),
        ok: false,
        source: 'server',
        failure: { class: 'agent_offline', message: 'offline' },
      },
    ]);
    await writer.write([agent(1)]);
    let m = await state(id);
    assert.deepEqual(
      [m.consecutive_failures, m.last_error_class],
      [2, 'agent_offline'],
      'counted; the newer made-up error stays the last error',
    );
    await writer.write([agent(1), agent(0)]);
    m = await state(id);
    assert.equal(m.consecutive_failures, 2, 'replays are still not counted twice');
    await writer.write([agent(3)]);
    m = await state(id);
    assert.deepEqual([m.consecutive_failures, m.last_error], [3, 'agent 3']);
    await writer.close();
  });

  test("a device's failure count is reset in id order, for its monitors only", async () => {
    const a = await seedMonitors(pool, 1);
    const b = await seedMonitors(pool, 1);
    const t = new Date('2026-11-09T00:00:00Z');
    const writer = createMetricsWriter({ ...WRITER_DEFAULTS, pool, log: silent, flushMs: 5 });
    await writer.write(
      [...a.monitorIds, ...b.monitorIds].map(
        (id): PollResult => ({ monitor_id: id, time: t, ok: false, failure: { class: 'auth', message: 'no' } }),
      ),
    );
    const { db, monitors } = createTableServices(pool, createEventBus());
    assert.equal(await db.transaction((tx) => monitors.resetFailures(tx, a.deviceIds[0]!)), 1);
    const r = await pool.query('SELECT id, consecutive_failures FROM monitors WHERE id = ANY($1) ORDER BY id', [
      [a.monitorIds[0], b.monitorIds[0]],
    ]);
    assert.deepEqual(
      r.rows.map((x) => x.consecutive_failures),
      [0, 1],
    );
    await writer.close();
  });
});
