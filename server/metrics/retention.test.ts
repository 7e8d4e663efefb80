import assert from 'node:assert/strict';
import { test, before, after } from 'node:test';
import pg from 'pg';
import { applyRetention, type RetentionOptions } from './retention.ts';
import { forEachBackend, startTestDatabase, type TestDatabase } from '../../test/helpers/db.ts';
import { seedMonitors } from '../../test/integration/metrics/seed-monitors.ts';
import { RETENTION_DEFAULTS } from '../../test/helpers/config-defaults.ts';

const silent = { info() {}, warn() {}, error() {}, debug() {} } as never;

forEachBackend((backend) => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let monitorIds: number[];
  before(async () => {
    db = await startTestDatabase({ backend });
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    ({ monitorIds } = await seedMonitors(pool, 2));
  });
  after(async () => {
    await pool?.end();
    await db?.stop();
  });

  test('the batched retention DELETE removes exactly the rows older than the cutoff, batch after batch, and nothing by default', async () => {
    // Rows spread over many days: on a hypertable they sit in many chunks whose row ids (ctid)
    // repeat, so a DELETE by ctid would hit young rows of other chunks too.
    await pool.query(
      `INSERT INTO metrics (time, monitor_id, cpu_percent)
       SELECT now() - make_interval(days => d, hours => 12, mins => m), id, d FROM generate_series(0, 40) d, generate_series(0, 2) m, unnest($1::int[]) id`,
      [monitorIds],
    );
    const counts = async () =>
      (
        await pool.query(
          "SELECT count(*) FILTER (WHERE time < now() - interval '30 days')::int AS old, count(*) FILTER (WHERE time >= now() - interval '30 days')::int AS young FROM metrics",
        )
      ).rows[0];
    const start = await counts();
    assert.deepEqual(start, { old: 11 * 3 * 2, young: 30 * 3 * 2 }, 'days 30..40 (and a half) are old');
    (
      await applyRetention({
        ...RETENTION_DEFAULTS,
        pool,
        mode: 'plain',
        log: silent,
        retentionDays: 0,
        compressAfterDays: 0,
      })
    )();
    assert.deepEqual(await counts(), start, 'kept forever by default');
    (
      await applyRetention({
        ...RETENTION_DEFAULTS,
        pool,
        mode: 'plain',
        log: silent,
        retentionDays: 30,
        compressAfterDays: 0,
        sweepBatch: 7,
      })
    )();
    const end = await counts();
    assert.equal(end.old, 0, 'every old row gone');
    assert.equal(end.young, start.young, 'every young row kept');
  });

  if (backend !== 'timescaledb') return;

  const jobs = async () =>
    (
      await pool.query<{
        job_id: number;
        proc_name: string;
        hypertable_name: string;
        config: Record<string, unknown>;
        schedule_s: number;
      }>(
        `SELECT job_id, proc_name, hypertable_name, config, extract(epoch FROM schedule_interval)::float8 AS schedule_s FROM timescaledb_information.jobs
        WHERE hypertable_name IN ('metrics', 'metrics_5m', 'metrics_1h') ORDER BY hypertable_name, proc_name`,
      )
    ).rows;
  const key = (j: { proc_name: string; hypertable_name: string }) =>
    `${j.hypertable_name} ${j.proc_name.replace('policy_', '')}`;
  const base: RetentionOptions = {
    pool: null as never,
    mode: 'timescaledb',
    log: silent,
    retentionDays: 30,
    compressAfterDays: 7,
    chunkIntervalHours: 24,
    aggregates: { retention5mDays: 365, retention1hDays: 0, compressAfterDays: 30 },
  };

  test('policies: every one exists once; applied again unchanged they keep their job ids and configs', async () => {
    await applyRetention({ ...base, pool });
    const first = await jobs();
    assert.deepEqual(first.map(key).sort(), [
      'metrics compression',
      'metrics retention',
      'metrics_1h compression',
      'metrics_1h refresh_continuous_aggregate',
      'metrics_5m compression',
      'metrics_5m refresh_continuous_aggregate',
      'metrics_5m retention',
    ]);
    const byKey = Object.fromEntries(first.map((j) => [key(j), j]));
    assert.equal(byKey['metrics compression']!.config.compress_after, '7 days');
    assert.equal(byKey['metrics retention']!.config.drop_after, '30 days');
    assert.equal(byKey['metrics_5m retention']!.config.drop_after, '365 days');
    assert.equal(
      byKey['metrics_5m refresh_continuous_aggregate']!.config.start_offset,
      '30 days',
      'refreshed only as far back as raw rows are kept',
    );
    assert.equal(
      byKey['metrics_1h refresh_continuous_aggregate']!.config.start_offset,
      '365 days',
      'and the 1 h layer only as far back as the 5 min layer',
    );
    await applyRetention({ ...base, pool });
    await applyRetention({ ...base, pool });
    assert.deepEqual(await jobs(), first, 'same jobs, same ids, same configs');
  });

  test('a changed setting alters its job in place; 0 removes it; the other jobs are untouched', async () => {
    const before = Object.fromEntries((await jobs()).map((j) => [key(j), j]));
    await applyRetention({
      ...base,
      pool,
      retentionDays: 60,
      compressAfterDays: 0,
      aggregates: { ...base.aggregates, retention5mDays: 400 },
    });
    const after = Object.fromEntries((await jobs()).map((j) => [key(j), j]));
    assert.equal(after['metrics compression'], undefined, 'compression 0: policy removed');
    assert.equal(after['metrics retention']!.job_id, before['metrics retention']!.job_id);
    assert.equal(after['metrics retention']!.config.drop_after, '60 days');
    assert.equal(after['metrics_5m retention']!.job_id, before['metrics_5m retention']!.job_id);
    assert.equal(after['metrics_5m retention']!.config.drop_after, '400 days');
    assert.equal(
      after['metrics_5m refresh_continuous_aggregate']!.job_id,
      before['metrics_5m refresh_continuous_aggregate']!.job_id,
    );
    assert.equal(after['metrics_5m refresh_continuous_aggregate']!.config.start_offset, '60 days');
    assert.deepEqual(after['metrics_1h compression'], before['metrics_1h compression']);
    await applyRetention({ ...base, pool });
    assert.equal(
      Object.fromEntries((await jobs()).map((j) => [key(j), j]))['metrics compression']!.config.compress_after,
      '7 days',
      'added back',
    );
  });

  test('chunk interval and compression settings are deliberate: 1 day by default, segmented by monitor, ordered by time', async () => {
    const dim = async () =>
      Object.fromEntries(
        (
          await pool.query(
            `SELECT COALESCE(c.view_name, d.hypertable_name) AS name, extract(epoch FROM d.time_interval)::float8 / 3600 AS h
         FROM timescaledb_information.dimensions d LEFT JOIN timescaledb_information.continuous_aggregates c ON c.materialization_hypertable_name = d.hypertable_name`,
          )
        ).rows.map((r) => [r.name, Number(r.h)]),
      );
    assert.deepEqual(await dim(), { metrics: 24, metrics_5m: 240, metrics_1h: 2400 });
    await applyRetention({ ...base, pool, chunkIntervalHours: 6 });
    assert.deepEqual(await dim(), { metrics: 6, metrics_5m: 60, metrics_1h: 600 });
    await applyRetention({ ...base, pool });
    const s = await pool.query(
      "SELECT attname, segmentby_column_index, orderby_column_index, orderby_asc FROM timescaledb_information.compression_settings WHERE hypertable_name = 'metrics' ORDER BY attname",
    );
    assert.deepEqual(s.rows, [
      { attname: 'monitor_id', segmentby_column_index: 1, orderby_column_index: null, orderby_asc: null },
      { attname: 'time', segmentby_column_index: null, orderby_column_index: 1, orderby_asc: false },
    ]);
  });

  test('the retention and compression jobs, run now, drop and compress whole chunks of the table', async () => {
    await pool.query('TRUNCATE metrics');
    await pool.query(
      `INSERT INTO metrics (time, monitor_id, cpu_percent) SELECT now() - make_interval(days => d), id, d FROM generate_series(0, 80) d, unnest($1::int[]) id`,
      [monitorIds],
    );
    const j = Object.fromEntries((await jobs()).map((x) => [key(x), x.job_id]));
    await pool.query('CALL run_job($1)', [j['metrics retention']]);
    const oldest = (await pool.query('SELECT extract(epoch FROM now() - min(time)) / 86400 AS d FROM metrics')).rows[0]
      .d;
    assert.ok(oldest <= 31, `nothing older than about 30 days (whole chunks) left: ${oldest}`);
    await pool.query('CALL run_job($1)', [j['metrics compression']]);
    const c = (
      await pool.query(
        "SELECT count(*) FILTER (WHERE is_compressed)::int AS compressed, count(*)::int AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'metrics'",
      )
    ).rows[0];
    assert.ok(
      c.compressed >= 20 && c.compressed < c.n,
      `chunks older than 7 days compressed, the recent ones not: ${JSON.stringify(c)}`,
    );
    const after = (await pool.query('SELECT count(*)::int AS n, min(cpu_percent) AS lo FROM metrics')).rows[0];
    assert.equal(after.n, 31 * 2);
    assert.equal(after.lo, 0);
  });
});
