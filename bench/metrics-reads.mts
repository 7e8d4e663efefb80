/**
 * History reads on a real TimescaleDB: from the continuous aggregates (the server's history path)
 * against the raw table (the same queries with the aggregates not used), in the same run:
 *   1. one monitor's year at 1-day buckets (avg, min, max per day);
 *   2. the fleet's top 10 monitors by peak CPU over the last 24 hours.
 *
 *   NMSLITE_TEST_TIMESCALE_URL=postgres://postgres@127.0.0.1:55432/postgres npx tsx bench/metrics-reads.mts [--monitors 10000] [--year-monitors 10] [--runs 40] [--raw-runs 8] [--keep]
 *
 * --keep leaves the loaded database in place and prints its URL; NMSLITE_BENCH_DB_URL=<that URL> then
 * measures again on it without loading (the load takes about 5 minutes on 2 cores).
 *
 * Data: every monitor has the last 25 hours at 60 s (10,000 monitors: 15 M rows, what the fleet query
 * scans); `--year-monitors` of them have the whole year before that too (525,600 samples each),
 * realistic values as in bench/storage.mts. As the server runs it: 1-day chunks, chunks older than
 * 7 days compressed, both aggregates refreshed (the policies' work), so only the recent tail is
 * aggregated in real time. Target (issue 12): p95 under 50 ms for both, from the aggregates.
 */
import pg from 'pg';
import { startTestDatabase } from '../test/helpers/db.ts';
import { createMetricsQuery, type MetricsBucket } from '../server/metrics/query.ts';
import { applyPausedRetention, REALISTIC_COLUMNS, REALISTIC_SAMPLES, seedBenchMonitors, timed } from './storage.mts';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const MONITORS = arg('monitors', 10_000);
const YEAR_MONITORS = Math.min(arg('year-monitors', 10), MONITORS);
const RUNS = arg('runs', 40);
const RAW_RUNS = arg('raw-runs', 8);

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
async function measure(
  label: string,
  runs: number,
  fn: (i: number) => Promise<unknown>,
): Promise<{ p50: number; p95: number; max: number; runs: number }> {
  for (let i = 0; i < 2; i++) await fn(i);
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await fn(i);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const r = { p50: +pct(ms, 50).toFixed(1), p95: +pct(ms, 95).toFixed(1), max: +Math.max(...ms).toFixed(1), runs };
  console.log(`  ${label}: p50 ${r.p50} ms, p95 ${r.p95} ms, max ${r.max} ms (${runs} runs)`);
  return r;
}

const reuse = process.env.NMSLITE_BENCH_DB_URL;
const db = reuse ? { url: reuse, stop: async () => {} } : await startTestDatabase({ backend: 'timescaledb' });
const keep = process.argv.includes('--keep');
const c = new pg.Client({ connectionString: db.url });
await c.connect();
const q = async (sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows;
const pool = new pg.Pool({ connectionString: db.url, max: 4 });
try {
  const loaded = reuse ? ((await q('SELECT max(time) AS t FROM metrics'))[0].t as Date | null) : null;
  if (loaded) console.log(`reusing ${reuse}: data up to ${loaded.toISOString()}`);
  const now = loaded
    ? Math.floor(loaded.getTime() / 60_000) * 60_000 + 60_000
    : Math.floor(Date.now() / 60_000) * 60_000;
  if (!loaded) {
    await q('SET synchronous_commit = off');
    await applyPausedRetention(pool);
    await seedBenchMonitors(c, MONITORS);
    const recentStart = new Date(now - 25 * 3600_000);
    const yearStart = new Date(recentStart.getTime() - 365 * 86400_000);
    await q('SELECT setseed(0.7)');
    await timed(`${MONITORS} monitors × 25 h`, () =>
      q(`INSERT INTO metrics (${REALISTIC_COLUMNS}) ${REALISTIC_SAMPLES} ORDER BY 1, 2`, [
        recentStart,
        1,
        MONITORS,
        0,
        25 * 60,
      ]),
    );
    // A year in 30-day slices (one statement each keeps memory flat).
    await timed(`${YEAR_MONITORS} monitors × 365 days`, async () => {
      for (let d = 0; d < 365; d += 30) {
        await q(`INSERT INTO metrics (${REALISTIC_COLUMNS}) ${REALISTIC_SAMPLES} ORDER BY 1, 2`, [
          yearStart,
          1,
          YEAR_MONITORS,
          d * 1440,
          Math.min(365, d + 30) * 1440,
        ]);
      }
    });
    await timed('refresh the aggregates (what the policies do)', async () => {
      await q("CALL refresh_continuous_aggregate('metrics_5m', NULL, NULL)");
      await q("CALL refresh_continuous_aggregate('metrics_1h', NULL, NULL)");
    });
    await timed('compress chunks older than 7 days (raw and aggregates, as the policies do)', async () => {
      await q(
        "SELECT count(compress_chunk(ch, if_not_compressed => true)) FROM show_chunks('metrics', older_than => interval '7 days') ch",
      );
      for (const v of ['metrics_5m', 'metrics_1h'])
        await q(
          `SELECT count(compress_chunk(ch, if_not_compressed => true)) FROM show_chunks('${v}', older_than => interval '30 days') ch`,
        );
    });
    await q('ANALYZE');
  }
  const rows = Number((await q('SELECT count(*) AS n FROM metrics'))[0].n);
  console.log(
    `${rows.toLocaleString('en')} samples stored; ${(await q("SELECT count(*) AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'metrics' AND is_compressed"))[0].n} raw chunks compressed`,
  );

  const fromAggregates = createMetricsQuery({ pool, mode: 'timescaledb', maxRawPoints: 1_000_000, latestCacheMs: 0 });
  // The same SQL shape over the raw table: the plain-PostgreSQL path of the same module.
  const fromRaw = createMetricsQuery({ pool, mode: 'plain', maxRawPoints: 1_000_000, latestCacheMs: 0 });
  const yearFrom = new Date(now - 365 * 86400_000);
  const yearTo = new Date(now);
  const dayFrom = new Date(now - 86400_000);
  const monitor = (i: number) => 1 + (i % YEAR_MONITORS);

  // Same answers from both (the benchmark would be meaningless otherwise).
  const a = await fromAggregates.history(1, yearFrom, yearTo, '1d');
  const r = await fromRaw.history(1, yearFrom, yearTo, '1d');
  const same = (x: number | null, y: number | null) =>
    x === y || (x !== null && y !== null && Math.abs(x - y) <= 0.011);
  const ap = a.points as MetricsBucket[];
  const rp = r.points as MetricsBucket[];
  const yearSame =
    ap.length === rp.length &&
    ap.every((p, i) => {
      const b = rp[i]!;
      return (
        p.timestamp === b.timestamp &&
        p.samples === b.samples &&
        same(p.cpu.usage_percent, b.cpu.usage_percent) &&
        same(p.max.cpu.usage_percent, b.max.cpu.usage_percent) &&
        same(p.min.cpu.usage_percent, b.min.cpu.usage_percent)
      );
    });
  const ta = await fromAggregates.topPeakCpu(dayFrom, yearTo, 10);
  const tr = await fromRaw.topPeakCpu(dayFrom, yearTo, 10, { source: 'raw' });
  console.log(
    `year: ${a.points.length} daily buckets from ${a.source} (raw: ${r.source}), same numbers: ${yearSame}; top 10 from ${ta.source}, same as raw: ${JSON.stringify(ta.rows) === JSON.stringify(tr.rows)}`,
  );

  console.log('one monitor, a year at 1-day buckets:');
  const yearAgg = await measure('from the aggregates', RUNS, (i) =>
    fromAggregates.history(monitor(i), yearFrom, yearTo, '1d'),
  );
  const yearRaw = await measure('from the raw table', RAW_RUNS, (i) =>
    fromRaw.history(monitor(i), yearFrom, yearTo, '1d'),
  );
  console.log(`fleet top 10 by peak CPU over the last 24 h (${MONITORS} monitors):`);
  const topAgg = await measure('from the aggregates', RUNS, () => fromAggregates.topPeakCpu(dayFrom, yearTo, 10));
  const topRaw = await measure('from the raw table', RAW_RUNS, () =>
    fromRaw.topPeakCpu(dayFrom, yearTo, 10, { source: 'raw' }),
  );
  console.log(
    JSON.stringify(
      {
        samples: rows,
        year_1d: {
          aggregates: yearAgg,
          raw: yearRaw,
          speedup_p95: +(yearRaw.p95 / yearAgg.p95).toFixed(1),
          source: a.source,
        },
        fleet_top10_24h: {
          aggregates: topAgg,
          raw: topRaw,
          speedup_p95: +(topRaw.p95 / topAgg.p95).toFixed(1),
          source: ta.source,
        },
        target_p95_ms: 50,
        met: yearAgg.p95 < 50 && topAgg.p95 < 50,
      },
      null,
      2,
    ),
  );
} finally {
  await pool.end();
  await c.end();
  if (keep && !reuse) console.log(`kept: NMSLITE_BENCH_DB_URL=${db.url}`);
  else await db.stop();
}
