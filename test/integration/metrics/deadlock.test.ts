import { test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { forEachBackend, usePooledDatabase } from '../../helpers/db.ts';
import { summarise, updateMonitorState } from '../../../server/metrics/monitor-state.ts';
import { createMetricsWriter, type PollResult } from '../../../server/metrics/write.ts';
import { seedMonitors } from './seed-monitors.ts';
import { WRITER_DEFAULTS } from '../../helpers/config-defaults.ts';
import { WRITER_SAMPLE } from '../../helpers/metric-samples.ts';

/**
 * Concurrent writes of monitor state used to deadlock (`deadlock detected`) because
 * two statements locked the same rows in different orders. The writer runs `concurrency` batches
 * at once, and results reach it in whatever order agents send them, so two of its own batches
 * sharing monitors is normal. These tests race two transactions over the same rows in opposite
 * orders: the statements the writer used before deadlock, the writer's statements now cannot.
 */
const N = 400;
// The whole file once per storage backend (plain PostgreSQL, TimescaleDB); the body is not re-indented.
forEachBackend((backend) => {
  let pool: pg.Pool;
  usePooledDatabase({ backend, max: 8 }, (p) => {
    pool = p;
  });

  /** Each test races over its own monitors. */
  async function monitors(): Promise<number[]> {
    const { monitorIds } = await seedMonitors(pool, N);
    await pool.query('ANALYZE monitors');
    return monitorIds;
  }

  /** The writer's monitor-state UPDATE before this change (commit 13b2218, server/metrics/monitor-state.ts), verbatim. */
  const OLD_UPDATE = `
  WITH u AS (
    SELECT * FROM unnest($1::int[], $2::timestamptz[], $3::int[], $4::int[], $5::timestamptz[], $6::text[], $7::text[])
      AS u(id, s_last, f_after, f_count, f_last, f_msg, f_class)
  )
  UPDATE monitors m SET
    last_polled = CASE WHEN u.s_last > m.last_polled OR (u.s_last IS NOT NULL AND m.last_polled IS NULL)
                       THEN u.s_last ELSE m.last_polled END,
    consecutive_failures = CASE
      WHEN u.s_last > m.last_polled OR (u.s_last IS NOT NULL AND m.last_polled IS NULL) THEN u.f_after
      WHEN u.f_last > m.last_error_at OR (u.f_last IS NOT NULL AND m.last_error_at IS NULL)
        THEN m.consecutive_failures + u.f_count
      ELSE m.consecutive_failures END,
    last_error = CASE WHEN u.f_last > m.last_error_at OR (u.f_last IS NOT NULL AND m.last_error_at IS NULL)
                      THEN u.f_msg ELSE m.last_error END,
    last_error_class = CASE WHEN u.f_last > m.last_error_at OR (u.f_last IS NOT NULL AND m.last_error_at IS NULL)
                      THEN u.f_class ELSE m.last_error_class END,
    last_error_at = CASE WHEN u.f_last > m.last_error_at OR (u.f_last IS NOT NULL AND m.last_error_at IS NULL)
                      THEN u.f_last ELSE m.last_error_at END
  FROM u WHERE m.id = u.id
  RETURNING m.id, m.device_id`;
  const oldParams = (order: number[], t: Date) => [
    order,
    order.map(() => null),
    order.map(() => 0),
    order.map(() => 1),
    order.map(() => t),
    order.map(() => 'x'),
    order.map(() => 'unreachable'),
  ];

  type Step = (client: pg.PoolClient, order: number[], round: number) => Promise<unknown>;

  /**
   * Runs `step` in two transactions at once, one over the monitors in ascending, one in descending
   * id order, `rounds` times; returns how many transactions died of a deadlock.
   */
  async function race(
    ids: number[],
    rounds: number,
    step: Step,
    opts: { settings?: string; stopAtFirst?: boolean } = {},
  ): Promise<number> {
    let deadlocks = 0;
    const asc = [...ids];
    const desc = [...ids].reverse();
    for (let round = 0; round < rounds; round++) {
      const side = async (order: number[]): Promise<void> => {
        const c = await pool.connect();
        try {
          await c.query('BEGIN');
          if (opts.settings) await c.query(opts.settings);
          try {
            await step(c, order, round);
            await c.query('COMMIT');
          } catch (err) {
            await c.query('ROLLBACK');
            if ((err as { code?: string }).code === '40P01') deadlocks++;
            else throw err;
          }
        } finally {
          c.release();
        }
      };
      await Promise.all([side(asc), side(desc)]);
      if (opts.stopAtFirst && deadlocks > 0) break;
    }
    return deadlocks;
  }

  const FORCE_NESTED_LOOP = 'SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off';
  const base = Date.parse('2026-12-01T00:00:00Z');

  test('the previous monitor-state UPDATE locked rows in batch order: two batches in opposite orders deadlock', async () => {
    // The planner hashes `monitors` and probes it with unnest(...) in array order, so the UPDATE
    // locks rows in the order the results came in.
    const ids = await monitors();
    const dead = await race(
      ids,
      40,
      (c, order, round) => c.query(OLD_UPDATE, oldParams(order, new Date(base + round * 1000))),
      { stopAtFirst: true },
    );
    assert.ok(dead > 0, 'the old statement deadlocks (this shows the race below is a real one)');
  });

  test('the monitor-state UPDATE locks rows in id order: the same race never deadlocks, whatever the join plan', async () => {
    const results = (order: number[], round: number): PollResult[] =>
      order.flatMap((id) => [
        {
          monitor_id: id,
          time: new Date(base + round * 1000),
          ok: false,
          failure: { class: 'unreachable', message: `round ${round}` },
        },
        {
          monitor_id: id,
          time: new Date(base + round * 1000 + 500),
          ok: false,
          source: 'server',
          failure: { class: 'timeout', message: 'none' },
        },
      ]);
    const step: Step = (c, order, round) => updateMonitorState(c, summarise(results(order, round)));
    const ids = await monitors();
    assert.equal(await race(ids, 25, step), 0, 'planner-chosen plan');
    assert.equal(
      await race(ids, 25, step, { settings: FORCE_NESTED_LOOP }),
      0,
      'nested loops (rows visited in batch order)',
    );
    const r = await pool.query(
      'SELECT count(*)::int AS n, min(consecutive_failures) AS lo, max(consecutive_failures) AS hi FROM monitors WHERE id = ANY($1)',
      [ids],
    );
    assert.deepEqual(
      r.rows[0],
      { n: N, lo: 25, hi: 25 },
      'each round counted once per monitor (replays of the same round are not)',
    );
  });

  test('the previous metrics INSERT … ON CONFLICT in arrival order deadlocks on overlapping keys; in key order it cannot', async () => {
    const insert =
      (sorted: boolean): Step =>
      (c, order, round) =>
        c.query(
          `INSERT INTO metrics (time, monitor_id) SELECT t, id FROM unnest($1::timestamptz[], $2::int[]) AS s(t, id)
       ${sorted ? 'ORDER BY id, t' : ''} ON CONFLICT (monitor_id, time) DO NOTHING`,
          [order.map(() => new Date(base + 3_600_000 + round * 1000 + (sorted ? 500 : 0))), order],
        );
    const ids = await monitors();
    assert.ok((await race(ids, 40, insert(false), { stopAtFirst: true })) > 0, 'arrival order: a deadlock');
    assert.equal(await race(ids, 25, insert(true)), 0, 'key order: none');
  });

  test('the metrics writer hammered with concurrent overlapping batches in opposite orders never deadlocks', async () => {
    const ids = await monitors();
    const errors: unknown[] = [];
    const log = {
      info() {},
      debug() {},
      warn: (o: unknown) => void errors.push(o),
      error: (o: unknown) => void errors.push(o),
    };
    const writers = [0, 1].map(() =>
      createMetricsWriter({ ...WRITER_DEFAULTS, pool, log, batchSize: 250, flushMs: 2, concurrency: 2 }),
    );
    const sample = (cpu: number) => ({ ...WRITER_SAMPLE, cpu_percent: cpu });
    const t0 = base + 7_200_000;
    const batch = (order: number[], round: number): PollResult[] =>
      order.flatMap((id, i): PollResult[] => [
        { monitor_id: id, time: new Date(t0 + round * 60_000), ok: true, sample: sample(i % 100) },
        {
          monitor_id: id,
          time: new Date(t0 + round * 60_000 + 1),
          ok: false,
          failure: { class: 'timeout', message: 'slow' },
        },
        {
          monitor_id: id,
          time: new Date(t0 + round * 60_000 + 2),
          ok: false,
          source: 'server',
          failure: { class: 'agent_offline', message: 'the agent is offline' },
        },
      ]);
    const asc = [...ids];
    const desc = [...ids].reverse();
    const rounds = 15;
    const writes: Promise<void>[] = [];
    for (let round = 0; round < rounds; round++) {
      // Each writer cuts these into several batches (250 results) in flight on 2 connections, so
      // batches of both writers and of the same writer overlap in opposite orders.
      writes.push(writers[0]!.write(batch(asc, round)), writers[1]!.write(batch(desc, round)));
      writes.push(writers[round % 2]!.write(batch(round % 2 ? asc : desc, round)));
      if (round % 3 === 2) await Promise.all(writes.splice(0));
    }
    const settled = await Promise.allSettled(writes);
    for (const w of writers) await w.close();
    assert.deepEqual(
      settled.filter((s) => s.status === 'rejected'),
      [],
    );
    assert.deepEqual(
      errors.map((e) => String((e as { err?: unknown }).err ?? JSON.stringify(e))),
      [],
      'nothing logged: no batch failed, none was retried',
    );
    assert.deepEqual(
      writers.map((w) => w.stats().failedBatches),
      [0, 0],
    );
    const rows = await pool.query('SELECT count(*)::int AS n FROM metrics WHERE monitor_id = ANY($1)', [ids]);
    assert.equal(
      rows.rows[0].n,
      N * rounds,
      'one row per monitor and round, none twice, none from server-made failures',
    );
    const m = await pool.query(
      'SELECT min(consecutive_failures) AS lo, max(consecutive_failures) AS hi, min(last_attempted) AS la, count(*) FILTER (WHERE last_error_class = $2)::int AS offline FROM monitors WHERE id = ANY($1)',
      [ids, 'agent_offline'],
    );
    assert.deepEqual(m.rows[0], { lo: 1, hi: 1, la: new Date(t0 + (rounds - 1) * 60_000 + 1), offline: N });
  });
});
