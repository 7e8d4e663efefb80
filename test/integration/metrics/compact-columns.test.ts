import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { forEachBackend, usePooledDatabase, type TestDatabase } from '../../helpers/db.ts';
import { createMetricsWriter, type PollResult } from '../../../server/metrics/write.ts';
import { createMetricsQuery, type MetricsBucket } from '../../../server/metrics/query.ts';
import { MIGRATIONS_DIR } from '../../../server/db/migrate.ts';
import type { MetricSample } from '../../../shared/metrics.ts';
import { seedMonitors } from './seed-monitors.ts';
import { WRITER_DEFAULTS } from '../../helpers/config-defaults.ts';

// Migration 0008: memory stored as whole KiB, the link bandwidth instead of the utilization derived
// from it. The API must answer exactly what the agent sent, from the raw table and the aggregates.
const silent = { info() {}, warn() {}, error() {}, debug() {} };
const T0 = Date.parse('2026-11-02T00:00:00Z');
const firstStatement = (file: string) =>
  readFileSync(join(MIGRATIONS_DIR, file), 'utf8').split('--> statement-breakpoint')[0]!;

/** A Windows host as the built-in collector reports it: whole KiB, a bandwidth. */
const windows = (i: number): MetricSample => ({
  cpu_percent: 10 + ((i * 7) % 50),
  memory_total: 8 * 1024 ** 3,
  memory_used: (2_000_000 + ((i * 7919) % 500_000)) * 1024,
  disk_total: 100e9,
  disk_used: 40e9 + i * 4096,
  net_sent_ps: 1000 + ((i * 37) % 900),
  net_recv_ps: 3000 + ((i * 53) % 2000),
  net_utilization: null,
  net_bandwidth: 1_000_000_000,
  packets_sent: 10 + i,
  packets_recv: 20 + i,
  net_errors: 0,
  net_dropped: 0,
  process_count: 100,
  collection_ms: 20,
});
/** An external plugin's sample: bytes that are not whole KiB, a utilization without a bandwidth. */
const plugin = (i: number): MetricSample => ({
  ...windows(i),
  memory_total: 8_000_000_001,
  memory_used: 3_000_000_000 + i * 1001,
  net_utilization: 1.2345 + i / 100,
  net_bandwidth: null,
});
/** Utilization as the agent computes it from the bandwidth (percent, 4 decimals). */
const utilization = (s: MetricSample): number =>
  s.net_bandwidth
    ? Math.round((((s.net_sent_ps ?? 0) + (s.net_recv_ps ?? 0)) * 8 * 100 * 10000) / s.net_bandwidth) / 10000
    : s.net_utilization!;
const r2 = (v: number) => Math.round(v * 100) / 100;

forEachBackend((backend) => {
  let db: TestDatabase;
  let pool: pg.Pool;
  usePooledDatabase({ backend, max: 4 }, (p, d) => {
    pool = p;
    db = d;
  });

  const write = async (rows: PollResult[]) => {
    const writer = createMetricsWriter({ ...WRITER_DEFAULTS, pool, log: silent, batchSize: 1000, flushMs: 10 });
    const outcome = await writer.write(rows);
    await writer.close();
    return outcome;
  };

  test('whole KiB and a bandwidth go to the compact columns, anything else where it was; the API answers what was sent', async () => {
    const { monitorIds } = await seedMonitors(pool, 2);
    const [win, ext] = monitorIds as [number, number];
    const n = 60;
    const samples = {
      [win]: Array.from({ length: n }, (_, i) => windows(i)),
      [ext]: Array.from({ length: n }, (_, i) => plugin(i)),
    };
    await write(
      [win, ext].flatMap((id) =>
        samples[id]!.map((sample, i) => ({
          monitor_id: id,
          time: new Date(T0 + i * 60_000),
          agent_seq: i,
          ok: true as const,
          sample,
        })),
      ),
    );

    const stored = await pool.query(
      `SELECT monitor_id, count(memory_used)::int AS bytes, count(memory_used_kb)::int AS kib, count(memory_total_kb)::int AS total_kib,
              count(net_utilization)::int AS util, count(net_bandwidth)::int AS bw
         FROM metrics WHERE monitor_id = ANY($1) GROUP BY 1 ORDER BY 1`,
      [[win, ext]],
    );
    assert.deepEqual(stored.rows, [
      { monitor_id: win, bytes: 0, kib: n, total_kib: n, util: 0, bw: n },
      { monitor_id: ext, bytes: n, kib: 0, total_kib: 0, util: n, bw: 0 },
    ]);

    const q = createMetricsQuery({ pool, mode: db.mode, maxRawPoints: 100_000, latestCacheMs: 0 });
    for (const id of [win, ext]) {
      const last = samples[id]![n - 1]!;
      const latest = await q.latest(id);
      assert.equal(latest?.memory.used_bytes, last.memory_used);
      assert.equal(latest?.memory.total_bytes, last.memory_total);
      assert.equal(latest?.network.utilization_percent, r2(utilization(last)));
      const raw = await q.history(id, new Date(T0), new Date(T0 + n * 60_000));
      assert.equal(raw.source, 'raw');
      assert.deepEqual(
        raw.points.map((p) => [p.memory.used_bytes, p.network.utilization_percent]),
        samples[id]!.map((s) => [s.memory_used, r2(utilization(s))]),
      );
    }

    if (db.mode !== 'timescaledb') return;
    await pool.query("CALL refresh_continuous_aggregate('metrics_5m', NULL, NULL)");
    await pool.query("CALL refresh_continuous_aggregate('metrics_1h', NULL, NULL)");
    for (const id of [win, ext]) {
      const h = await q.history(id, new Date(T0), new Date(T0 + n * 60_000), '1h');
      assert.equal(h.source, '1h');
      const b = h.points[0] as MetricsBucket;
      const util = samples[id]!.map(utilization);
      const mem = samples[id]!.map((s) => s.memory_used!);
      assert.equal(b.samples, n);
      assert.equal(b.max.network.utilization_percent, r2(Math.max(...util)));
      assert.equal(b.min.network.utilization_percent, r2(Math.min(...util)));
      assert.ok(Math.abs(b.network.utilization_percent! - util.reduce((a, x) => a + x, 0) / n) < 0.006);
      assert.equal(b.max.memory.used_bytes, Math.max(...mem));
      assert.equal(b.min.memory.used_bytes, Math.min(...mem));
      assert.equal(b.memory.used_bytes, Math.round(mem.reduce((a, x) => a + x, 0) / n));
    }
  });

  // TimescaleDB only: plain PostgreSQL has no aggregates.
  if (backend !== 'timescaledb') return;
  test('aggregates of the old definition are rebuilt on the compact columns when the raw table holds all they summarise, kept aside when it does not', async () => {
    const defn = async () =>
      (await pool.query("SELECT pg_get_viewdef('metrics_5m'::regclass) AS d")).rows[0].d as string;
    const toOldDefinition = async () => {
      await pool.query('DROP MATERIALIZED VIEW IF EXISTS metrics_1h');
      await pool.query('DROP MATERIALIZED VIEW IF EXISTS metrics_5m');
      await pool.query(firstStatement('0002_metrics_aggregates.sql'));
      assert.ok(!(await defn()).includes('memory_used_kb'), "0002's definition reads memory_used only");
    };
    const { monitorIds } = await seedMonitors(pool, 1);
    const id = monitorIds[0]!;
    const from = T0 + 86_400_000;
    // Rows as a server before 0008 stored them: bytes and utilization.
    await pool.query(
      `INSERT INTO metrics (time, monitor_id, cpu_percent, memory_total, memory_used, net_sent_ps, net_recv_ps, net_utilization, collection_ms)
       SELECT to_timestamp($2::float8 / 1000) + make_interval(mins => i), $1, 5 + i % 40, 8589934592, 2147483648 + i * 1024, 1000, 2000, 0.5 + i / 1000.0, 10
         FROM generate_series(0, 179) i`,
      [id, from],
    );

    // 1) The raw table still holds everything: rebuilt on the new definition, the same numbers.
    await toOldDefinition();
    await pool.query("CALL refresh_continuous_aggregate('metrics_5m', NULL, NULL)");
    await pool.query("CALL refresh_continuous_aggregate('metrics_1h', NULL, NULL)");
    const q = createMetricsQuery({ pool, mode: 'timescaledb', maxRawPoints: 100_000, latestCacheMs: 0 });
    const range = [new Date(from), new Date(from + 3 * 3600_000)] as const;
    const before0008 = await q.history(id, ...range, '1h');
    await pool.query(firstStatement('0008_metrics_compact_columns.sql'));
    await pool.query(firstStatement('0005_metrics_top_cpu_indexes.sql'));
    assert.ok((await defn()).includes('memory_used_kb'), 'rebuilt on the compact columns');
    assert.equal((await pool.query("SELECT to_regclass('metrics_5m_before_0008') AS r")).rows[0].r, null);
    await pool.query("CALL refresh_continuous_aggregate('metrics_5m', NULL, NULL)");
    await pool.query("CALL refresh_continuous_aggregate('metrics_1h', NULL, NULL)");
    const after0008 = await q.history(id, ...range, '1h');
    assert.equal(after0008.source, '1h');
    assert.equal(after0008.points.length, 3);
    assert.deepEqual(after0008.points, before0008.points);
    // Run again on start: idempotent, nothing rebuilt.
    const mat = async () =>
      (
        await pool.query(
          "SELECT materialization_hypertable_name AS m FROM timescaledb_information.continuous_aggregates WHERE view_name = 'metrics_5m'",
        )
      ).rows[0].m as string;
    const m1 = await mat();
    await pool.query(firstStatement('0008_metrics_compact_columns.sql'));
    assert.equal(await mat(), m1, 'an aggregate of the current definition is left alone');

    // 2) Raw retention dropped samples the old aggregates still summarise: they are kept, renamed.
    await toOldDefinition();
    await pool.query("CALL refresh_continuous_aggregate('metrics_5m', NULL, NULL)");
    await pool.query("CALL refresh_continuous_aggregate('metrics_1h', NULL, NULL)");
    // As a retention policy drops them: every monitor's samples before a time.
    await pool.query('DELETE FROM metrics WHERE time < $1', [new Date(from + 3600_000)]);
    await pool.query(firstStatement('0008_metrics_compact_columns.sql'));
    const kept = await pool.query(
      'SELECT count(*)::int AS n, min(bucket) AS first FROM metrics_1h_before_0008 WHERE monitor_id = $1',
      [id],
    );
    assert.equal(kept.rows[0].n, 3, 'the hour whose raw rows are gone is still in the kept aggregate');
    assert.equal(new Date(kept.rows[0].first).getTime(), from);
    const jobs = await pool.query(
      `SELECT count(*)::int AS n FROM timescaledb_information.jobs j JOIN timescaledb_information.continuous_aggregates c
           ON j.hypertable_name = c.materialization_hypertable_name
        WHERE c.view_name LIKE '%_before_0008' AND j.proc_name = 'policy_refresh_continuous_aggregate'`,
    );
    assert.equal(
      jobs.rows[0].n,
      0,
      'the kept aggregates are no longer refreshed (their retention and compression stay)',
    );
    assert.ok((await defn()).includes('memory_used_kb'), 'new aggregates exist beside them');
    // A deleted monitor's rows go from the kept aggregates too.
    await pool.query('DELETE FROM monitors WHERE id = $1', [id]);
    const left = await pool.query('SELECT count(*)::int AS n FROM metrics_1h_before_0008 WHERE monitor_id = $1', [id]);
    assert.equal(left.rows[0].n, 0);
  });
});
