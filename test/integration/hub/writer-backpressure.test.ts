import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestDatabase } from '../../helpers/db.ts';
import { createMetricsWriter, WriterBusyError, type PollResult } from '../../../server/metrics/write.ts';
import { seedMonitors } from '../metrics/seed-monitors.ts';

const silent = { info() {}, warn() {}, error() {}, debug() {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Issue 13 finding 3 (the writer's part): with the database stalled (a real row lock held on the
 * monitors), writes beyond the queue bound wait instead of piling up in memory, time out with
 * WriterBusyError (the caller does not ack; the agent resends), and every result is stored once
 * the database moves again.
 */
test('the metrics writer queues at most maxQueued results; writes beyond wait, then WriterBusyError; nothing admitted is lost', {
  timeout: 90_000,
}, async () => {
  const db = await startTestDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  const locker = new pg.Client({ connectionString: db.url });
  await locker.connect();
  try {
    const { monitorIds } = await seedMonitors(pool, 2);
    await locker.query('BEGIN');
    await locker.query('SELECT id FROM monitors WHERE id = ANY($1) FOR UPDATE', [monitorIds]);

    const writer = createMetricsWriter({
      pool,
      log: silent,
      batchSize: 500,
      flushMs: 10,
      concurrency: 1,
      maxQueued: 1000,
      maxWaitMs: 1500,
    });
    const base = Date.parse('2026-11-01T00:00:00Z');
    let seq = 0;
    const batch = (n: number): PollResult[] =>
      Array.from({ length: n }, () => {
        const i = seq++;
        return {
          monitor_id: monitorIds[i % 2]!,
          time: new Date(base + Math.floor(i / 2) * 60_000),
          agent_seq: i,
          ok: false as const,
          failure: { class: 'timeout', message: 'x' },
        };
      });
    const batches = Array.from({ length: 20 }, () => batch(300));
    const outcome: ('stored' | 'busy' | 'pending' | string)[] = batches.map(() => 'pending');
    const writes = batches.map((b, i) =>
      writer.write(b).then(
        () => (outcome[i] = 'stored'),
        (err) => (outcome[i] = err instanceof WriterBusyError ? 'busy' : String(err)),
      ),
    );

    await sleep(500);
    const st = writer.stats();
    assert.ok(st.queued <= 1000, `at most 1000 results queued while the database is stalled, got ${st.queued}`);
    assert.ok(st.waiting >= 15, `the other writes wait outside the queue: ${st.waiting}`);
    assert.equal(outcome.filter((o) => o === 'stored').length, 0, 'nothing is acknowledged while nothing is committed');

    await sleep(2000);
    assert.ok(
      outcome.filter((o) => o === 'busy').length >= 15,
      `writes that waited over maxWaitMs are refused: ${outcome.join(',')}`,
    );
    assert.ok(writer.stats().maxQueuedSeen <= 1000, `never more than 1000 queued: ${writer.stats().maxQueuedSeen}`);

    await locker.query('COMMIT');
    await Promise.all(writes);
    await writer.flush();
    const stored = outcome.flatMap((o, i) => (o === 'stored' ? [i] : []));
    assert.ok(stored.length >= 1, 'the admitted writes are stored once the database moves');
    assert.equal(outcome.filter((o) => o !== 'stored' && o !== 'busy').length, 0, outcome.join(','));
    // The refused batches are sent again (as the agent does from its spool): every result ends up stored.
    await Promise.all(batches.flatMap((b, i) => (outcome[i] === 'busy' ? [writer.write(b)] : [])));
    const r = await pool.query('SELECT count(*)::int AS n FROM metrics WHERE monitor_id = ANY($1)', [monitorIds]);
    // Failures are not metrics rows; the monitors' failure counters saw every result instead.
    const m = await pool.query('SELECT sum(consecutive_failures)::int AS n FROM monitors WHERE id = ANY($1)', [
      monitorIds,
    ]);
    assert.equal(r.rows[0].n, 0);
    assert.equal(m.rows[0].n, 20 * 300, 'every result of every batch was stored exactly once');
    await writer.close();
  } finally {
    await locker.end().catch(() => {});
    await pool.end();
    await db.stop();
  }
});
