import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { forEachBackend, startTestDatabase, type TestDatabase } from '../../helpers/db.ts';
import { createMetricsQuery } from '../../../server/metrics/query.ts';

const T0 = Date.parse('2026-11-23T00:00:00Z');
const MIN = 60_000;
const MONITORS = 60;

/**
 * topPeakCpu (server/metrics/query.ts) against the same question asked in plain SQL of the raw rows.
 * On TimescaleDB it reads each aggregate bucket's top N only; the data make that a real test: CPU
 * values are whole numbers 0..80 (so many monitors tie at the cut), a few NULLs, a monitor whose peak
 * is in the 5-minute part at the start, one whose peak is in the raw minutes at the end, one whose
 * peak is just outside the range, and hours that are only aggregated in real time (inserted after
 * the refresh).
 */
forEachBackend((backend) => {
  const ts = backend === 'timescaledb';
  let db: TestDatabase;
  let c: pg.Client;
  let pool: pg.Pool;
  const insert = (from: number, to: number) =>
    c.query(
      `INSERT INTO metrics (time, monitor_id, cpu_percent)
       SELECT to_timestamp(($1::float8 + m * 60000) / 1000), id,
              CASE WHEN (id * 7 + m) % 97 = 0 THEN NULL ELSE ((id * 2654435761 + m * 40503) % 81)::float8 END
         FROM generate_series(0, ($2::float8 - $1::float8)::int / 60000 - 1) AS m, generate_series(1, ${MONITORS}) AS id`,
      [from, to],
    );

  before(async () => {
    db = await startTestDatabase({ backend });
    c = new pg.Client({ connectionString: db.url });
    await c.connect();
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    await c.query("INSERT INTO agents (name, status) VALUES ('top', 'active')");
    await c.query(
      "INSERT INTO credential_profiles (name, type, username, password_enc, key_id, port) VALUES ('top', 'winrm_basic', 'u', 'x', 'k', 5985)",
    );
    await c.query(
      `INSERT INTO devices (agent_id, ip, status) SELECT (SELECT min(id) FROM agents), ('10.9.0.0'::inet + i)::text, 'active' FROM generate_series(1, ${MONITORS}) i`,
    );
    await c.query(
      `INSERT INTO monitors (device_id, credential_profile_id, plugin_id, polling_interval, enabled) SELECT id, (SELECT min(id) FROM credential_profiles), 1, 60, false FROM devices ORDER BY id`,
    );
    const ids = (await c.query<{ id: number }>('SELECT id FROM monitors ORDER BY id')).rows.map((r) => r.id);
    assert.deepEqual(
      ids,
      Array.from({ length: MONITORS }, (_, i) => i + 1),
      'monitor ids 1..N (the generated samples use them)',
    );
    await insert(T0 - 60 * MIN, T0 + 4 * 60 * MIN);
    if (ts) {
      for (const view of ['metrics_5m', 'metrics_1h'])
        await c.query('CALL refresh_continuous_aggregate($1, NULL, NULL)', [view]);
    }
    // After the refresh: only aggregated in real time.
    await insert(T0 + 4 * 60 * MIN, T0 + 7 * 60 * MIN);
    // Peaks: monitor 41 at T0 + 0:21 (5-minute part at the start of the range below), 42 at
    // T0 + 6:31 (raw minutes at its end), 43 at T0 + 2:30 (a whole hour, materialized), 44 at
    // T0 + 6:40 (after the range: must not count), 45 and 46 tie with 43.
    const set = (id: number, at: number, v: number) =>
      c.query('UPDATE metrics SET cpu_percent = $3 WHERE monitor_id = $1 AND time = $2', [id, new Date(at), v]);
    await set(41, T0 + 21 * MIN, 95.5);
    await set(42, T0 + 391 * MIN, 97.25);
    await set(43, T0 + 150 * MIN, 96);
    await set(45, T0 + 200 * MIN, 96);
    await set(46, T0 + 330 * MIN, 96);
    await set(44, T0 + 400 * MIN, 99);
    if (ts) {
      // The updates above invalidated their hours; refresh again (as the policy would), but the last
      // hours stay real time.
      for (const view of ['metrics_5m', 'metrics_1h'])
        await c.query('CALL refresh_continuous_aggregate($1, NULL, $2::timestamptz)', [
          view,
          new Date(T0 + 4 * 60 * MIN),
        ]);
    }
  });
  after(async () => {
    await pool?.end();
    await c?.end();
    await db?.stop();
  });

  const expected = async (from: number, to: number, limit: number) =>
    (
      await c.query<{ monitor_id: number; peak: number | null }>(
        'SELECT monitor_id, max(cpu_percent) AS peak FROM metrics WHERE time >= $1 AND time < $2 GROUP BY 1 ORDER BY peak DESC NULLS LAST, monitor_id LIMIT $3',
        [new Date(from), new Date(to), limit],
      )
    ).rows.map((r) => ({
      monitor_id: r.monitor_id,
      peak_cpu_percent: r.peak === null ? null : Math.round(r.peak * 100) / 100,
    }));

  test('the top N by peak CPU equals plain SQL over the raw rows: ties at the cut, peaks in partial hours, real-time hours', async () => {
    const q = createMetricsQuery({ pool, mode: db.mode, maxRawPoints: 1_000_000, latestCacheMs: 0 });
    const from = T0 + 17 * MIN;
    const to = T0 + 393 * MIN;
    for (const limit of [1, 3, 4, 5, 10, 25, 1000]) {
      const got = await q.topPeakCpu(new Date(from), new Date(to), limit);
      assert.equal(got.source, ts ? '1h' : 'raw');
      assert.deepEqual(got.rows, await expected(from, to, limit), `limit ${limit}`);
    }
    const top = (await q.topPeakCpu(new Date(from), new Date(to), 5)).rows;
    assert.deepEqual(top.slice(0, 5), [
      { monitor_id: 42, peak_cpu_percent: 97.25 },
      { monitor_id: 43, peak_cpu_percent: 96 },
      { monitor_id: 45, peak_cpu_percent: 96 },
      { monitor_id: 46, peak_cpu_percent: 96 },
      { monitor_id: 41, peak_cpu_percent: 95.5 },
    ]);
    // The 10th place is a tie of many monitors at 80: the lowest ids win, as in the SQL.
    const ten = (await q.topPeakCpu(new Date(from), new Date(to), 10)).rows;
    assert.equal(ten[9]!.peak_cpu_percent, 80);
    // Other ranges: whole hours only, one partial hour, minutes only.
    for (const [a, b] of [
      [T0, T0 + 6 * 60 * MIN],
      [T0 + 61 * MIN, T0 + 118 * MIN],
      [T0 + 391 * MIN, T0 + 394 * MIN],
      [T0 - 60 * MIN, T0 + 7 * 60 * MIN],
    ] as const) {
      assert.deepEqual(
        (await q.topPeakCpu(new Date(a), new Date(b), 10)).rows,
        await expected(a, b, 10),
        `[${new Date(a).toISOString()}, ${new Date(b).toISOString()})`,
      );
    }
    // The raw path answers the same.
    assert.deepEqual(
      (await q.topPeakCpu(new Date(from), new Date(to), 10, { source: 'raw' })).rows,
      await expected(from, to, 10),
    );
  });

  if (ts) {
    test('migration 0005 indexes both aggregates by (bucket, cpu_max DESC)', async () => {
      const r = await c.query<{ indexname: string }>(
        `SELECT i.relname AS indexname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
          WHERE i.relname IN ('metrics_5m_bucket_cpu_max_top', 'metrics_1h_bucket_cpu_max_top') ORDER BY 1`,
      );
      assert.deepEqual(
        r.rows.map((x) => x.indexname),
        ['metrics_1h_bucket_cpu_max_top', 'metrics_5m_bucket_cpu_max_top'],
      );
    });

    test("when TimescaleDB's catalog does not name the materialization tables, every bucket comes from the views, same answers", async () => {
      // The catalog is TimescaleDB's internals: when the materialization tables cannot be found (a
      // hardened database, or a release that renames the catalog) the answer must still be right, from
      // the views grouped. Hypertable queries need USAGE on the schema and the staleness check reads the
      // aggregate and invalidation tables, so only the hypertable table is revoked: that leaves exactly
      // the materialization lookup failing.
      await c.query('REVOKE SELECT ON _timescaledb_catalog.hypertable FROM PUBLIC');
      // Roles belong to the cluster, which other test databases share: a name of this run's own.
      const role = `top_reader_${process.pid}_${Date.now()}`;
      await c.query(`CREATE ROLE ${role} LOGIN PASSWORD 'top-reader-pw'`);
      await c.query(`GRANT SELECT ON metrics, metrics_5m, metrics_1h TO ${role}`);
      const url = new URL(db.url);
      url.username = role;
      url.password = 'top-reader-pw';
      const reader = new pg.Pool({ connectionString: url.toString(), max: 1 });
      try {
        await assert.rejects(
          reader.query('SELECT count(*) FROM _timescaledb_catalog.hypertable'),
          /permission denied/,
          'the catalog really is out of reach',
        );
        const q = createMetricsQuery({ pool: reader, mode: db.mode, maxRawPoints: 1_000_000, latestCacheMs: 0 });
        for (const [a, b, limit] of [
          [T0 + 17 * MIN, T0 + 393 * MIN, 5],
          [T0 + 17 * MIN, T0 + 393 * MIN, 25],
          [T0, T0 + 6 * 60 * MIN, 10],
          [T0 - 60 * MIN, T0 + 7 * 60 * MIN, 10],
        ] as const) {
          const got = await q.topPeakCpu(new Date(a), new Date(b), limit);
          assert.equal(got.source, '1h');
          assert.deepEqual(got.rows, await expected(a, b, limit), `[${new Date(a).toISOString()}, +${limit})`);
        }
      } finally {
        await reader.end();
        await c.query('GRANT SELECT ON _timescaledb_catalog.hypertable TO PUBLIC');
        await c.query(`DROP OWNED BY ${role}`);
        await c.query(`DROP ROLE ${role}`);
      }
    });
  }
});
