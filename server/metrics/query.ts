import type pg from 'pg';
import { AppError } from '../errors.ts';

export interface MetricsPoint {
  timestamp: string;
  cpu: { usage_percent: number | null };
  memory: { total_bytes: number | null; used_bytes: number | null; usage_percent: number | null };
  disk: { total_bytes: number | null; used_bytes: number | null; usage_percent: number | null };
  network: {
    bytes_sent_per_sec: number | null;
    bytes_recv_per_sec: number | null;
    utilization_percent: number | null;
    packets_sent: number | null;
    packets_recv: number | null;
    errors: number | null;
    dropped: number | null;
  };
  process_count: number | null;
  collection_ms: number | null;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const pct = (used: unknown, total: unknown): number | null => {
  const u = num(used);
  const t = num(total);
  return u === null || t === null || t <= 0 ? null : Math.round((u / t) * 10000) / 100;
};
const round2 = (v: unknown): number | null => (num(v) === null ? null : Math.round(num(v)! * 100) / 100);

/** Percentages are derived here, at query time, from the stored totals: only raw values are stored. */
export function toPoint(r: Record<string, unknown>): MetricsPoint {
  return {
    timestamp: (r.time as Date).toISOString(),
    cpu: { usage_percent: round2(r.cpu_percent) },
    memory: {
      total_bytes: num(r.memory_total),
      used_bytes: num(r.memory_used),
      usage_percent: pct(r.memory_used, r.memory_total),
    },
    disk: {
      total_bytes: num(r.disk_total),
      used_bytes: num(r.disk_used),
      usage_percent: pct(r.disk_used, r.disk_total),
    },
    network: {
      bytes_sent_per_sec: round2(r.net_sent_ps),
      bytes_recv_per_sec: round2(r.net_recv_ps),
      utilization_percent: round2(r.net_utilization),
      packets_sent: num(r.packets_sent),
      packets_recv: num(r.packets_recv),
      errors: num(r.net_errors),
      dropped: num(r.net_dropped),
    },
    process_count: num(r.process_count),
    collection_ms: num(r.collection_ms),
  };
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
export function parseBucket(b: string): number {
  const m = /^(\d{1,6})(s|m|h|d)$/.exec(b);
  if (!m)
    throw new AppError('VALIDATION_ERROR', `bucket: '${b}' is not a duration like 30s, 5m, 1h or 1d`, {
      field: 'bucket',
    });
  const secs = Number(m[1]) * UNITS[m[2]!]!;
  if (secs < 1 || secs > 366 * 86400)
    throw new AppError('VALIDATION_ERROR', 'bucket: must be between 1s and 366d', { field: 'bucket' });
  return secs;
}

function suggestBucket(rangeSec: number, maxPoints: number): string {
  const need = rangeSec / maxPoints;
  for (const [label, secs] of [
    ['1m', 60],
    ['5m', 300],
    ['15m', 900],
    ['1h', 3600],
    ['6h', 21600],
    ['1d', 86400],
  ] as const)
    if (secs >= need) return label;
  return '7d';
}

/** Minimum or maximum of the gauges within one bucket (percentages of the bucket's average total). */
export interface MetricsExtremes {
  cpu: { usage_percent: number | null };
  memory: { used_bytes: number | null; usage_percent: number | null };
  disk: { used_bytes: number | null; usage_percent: number | null };
  network: { bytes_sent_per_sec: number | null; bytes_recv_per_sec: number | null; utilization_percent: number | null };
}
/** One bucket: the averages (counters: their max) as a MetricsPoint, and min and max beside them. */
export interface MetricsBucket extends MetricsPoint {
  samples: number;
  min: MetricsExtremes;
  max: MetricsExtremes;
}
/** Which table answered: the raw samples or a continuous aggregate (TimescaleDB only). */
export type HistorySource = 'raw' | '5m' | '1h';

/** The aggregates migration 0002 creates, coarsest first (a bucket uses the coarsest that divides it). */
const AGGREGATE_SOURCES = [
  { source: '1h', view: 'metrics_1h', widthS: 3600 },
  { source: '5m', view: 'metrics_5m', widthS: 300 },
] as const;

/** A part of a requested range and the table that answers it (null: the raw table). */
type Piece = { view: null; from: Date; to: Date } | { view: string; source: HistorySource; from: Date; to: Date };

/** Averaged columns: the aggregates keep <name>_sum and <name>_n (non-null count) of the raw column. */
const AVG = [
  ['cpu', 'cpu_percent'],
  ['memory_total', 'memory_total'],
  ['memory_used', 'memory_used'],
  ['disk_total', 'disk_total'],
  ['disk_used', 'disk_used'],
  ['net_sent', 'net_sent_ps'],
  ['net_recv', 'net_recv_ps'],
  ['net_util', 'net_utilization'],
  ['process_count', 'process_count'],
  ['collection_ms', 'collection_ms'],
] as const;
/** Gauges with <name>_min and <name>_max. */
const MINMAX = [
  ['cpu', 'cpu_percent'],
  ['memory_used', 'memory_used'],
  ['disk_used', 'disk_used'],
  ['net_sent', 'net_sent_ps'],
  ['net_recv', 'net_recv_ps'],
  ['net_util', 'net_utilization'],
] as const;
/** Counters: only their max (<name>_max). */
const COUNTERS = ['packets_sent', 'packets_recv', 'net_errors', 'net_dropped'] as const;

/** Every partial-aggregate column, in the order both the aggregates and rawPartial() give them. */
const PARTIAL_COLUMNS = [
  'samples',
  ...AVG.flatMap(([n]) => [`${n}_sum`, `${n}_n`]),
  ...MINMAX.flatMap(([n]) => [`${n}_min`, `${n}_max`]),
  ...COUNTERS.map((c) => `${c}_max`),
];

/** The raw rows as one-sample partial aggregates, so they combine with aggregate rows. */
const RAW_PARTIAL = [
  '1::bigint AS samples',
  ...AVG.flatMap(([n, c]) => [`${c}::float8 AS ${n}_sum`, `(${c} IS NOT NULL)::int::bigint AS ${n}_n`]),
  ...MINMAX.flatMap(([n, c]) => [`${c} AS ${n}_min`, `${c} AS ${n}_max`]),
  ...COUNTERS.map((c) => `${c} AS ${c}_max`),
].join(', ');

/** Combines partial aggregates into one bucket: exact averages (sum / count), min, max. */
const COMBINE = [
  'sum(samples)::bigint AS samples',
  ...AVG.map(([n, c]) => `sum(${n}_sum) / NULLIF(sum(${n}_n), 0) AS ${c}`),
  ...MINMAX.flatMap(([n, c]) => [`min(${n}_min) AS ${c}_min`, `max(${n}_max) AS ${c}_max`]),
  ...COUNTERS.map((c) => `max(${c}_max) AS ${c}`),
].join(', ');

const roundInt = (v: unknown): number | null => (num(v) === null ? null : Math.round(Number(v)));

function toBucket(r: Record<string, unknown>): MetricsBucket {
  const memTotal = roundInt(r.memory_total);
  const diskTotal = roundInt(r.disk_total);
  const ext = (k: 'min' | 'max'): MetricsExtremes => ({
    cpu: { usage_percent: round2(r[`cpu_percent_${k}`]) },
    memory: { used_bytes: num(r[`memory_used_${k}`]), usage_percent: pct(r[`memory_used_${k}`], memTotal) },
    disk: { used_bytes: num(r[`disk_used_${k}`]), usage_percent: pct(r[`disk_used_${k}`], diskTotal) },
    network: {
      bytes_sent_per_sec: round2(r[`net_sent_ps_${k}`]),
      bytes_recv_per_sec: round2(r[`net_recv_ps_${k}`]),
      utilization_percent: round2(r[`net_utilization_${k}`]),
    },
  });
  const point = toPoint({
    ...r,
    memory_total: memTotal,
    memory_used: roundInt(r.memory_used),
    disk_total: diskTotal,
    disk_used: roundInt(r.disk_used),
    process_count: roundInt(r.process_count),
    collection_ms: roundInt(r.collection_ms),
  });
  return { ...point, samples: Number(r.samples), min: ext('min'), max: ext('max') };
}

export interface MetricsQueryOptions {
  pool: pg.Pool;
  mode: 'timescaledb' | 'plain';
  maxRawPoints: number;
  latestCacheMs: number;
  /**
   * Days each aggregate keeps (0 forever): a range reaching further back than that is answered by
   * the next coarser aggregate, or the raw table.
   */
  aggregateRetentionDays?: { '5m'?: number; '1h'?: number };
}

/** The only reader of the metrics table. The latest sample per monitor is cached briefly. */
export function createMetricsQuery(o: MetricsQueryOptions) {
  const cache = new Map<number, { at: number; point: MetricsPoint | null }>();
  /** Whether migration 0002's aggregates exist (looked up once: TimescaleDB mode only). */
  let aggregatesReady: Promise<boolean> | undefined;
  const haveAggregates = (): Promise<boolean> => {
    if (o.mode !== 'timescaledb') return Promise.resolve(false);
    aggregatesReady ??= o.pool
      .query<{ n: number }>(
        "SELECT count(*)::int AS n FROM timescaledb_information.continuous_aggregates WHERE view_schema = current_schema() AND view_name IN ('metrics_5m', 'metrics_1h')",
      )
      .then((r) => r.rows[0]!.n === 2)
      .catch((err) => {
        aggregatesReady = undefined;
        throw err;
      });
    return aggregatesReady;
  };
  const bucketFn = (expr: string, param: string): string =>
    // Plain PostgreSQL bins from TimescaleDB's default origin (Monday 2000-01-03), so a 7-day
    // bucket starts on the same day in both modes.
    o.mode === 'timescaledb'
      ? `time_bucket(make_interval(secs => ${param}), ${expr})`
      : `date_bin(make_interval(secs => ${param}), ${expr}, TIMESTAMPTZ '2000-01-03 00:00:00+00')`;

  /**
   * Whether `view` (or a layer below it) has rows changed in [a, b) that its last refresh did not
   * see: late samples (an agent's spool sent after an outage), deletions. Real-time aggregation
   * covers only what is newer than the aggregate's watermark, so such a range must not be read from
   * it until its refresh policy has run. Reads TimescaleDB's invalidation logs (catalog of 2.x); if
   * that catalog cannot be read, the aggregate is not trusted.
   */
  const staleAggregate = async (view: string, a: Date, b: Date): Promise<boolean> => {
    // The logs hold Unix-epoch microseconds for timestamptz dimensions.
    const us = (d: Date) => (BigInt(d.getTime()) * 1000n).toString();
    try {
      const r = await o.pool.query<{ stale: boolean }>(
        `WITH RECURSIVE chain AS (
           SELECT mat_hypertable_id, raw_hypertable_id FROM _timescaledb_catalog.continuous_agg WHERE user_view_schema = current_schema() AND user_view_name = $1
           UNION ALL
           SELECT c.mat_hypertable_id, c.raw_hypertable_id FROM _timescaledb_catalog.continuous_agg c JOIN chain ON c.mat_hypertable_id = chain.raw_hypertable_id)
         SELECT EXISTS (SELECT 1 FROM chain JOIN _timescaledb_catalog.continuous_aggs_materialization_invalidation_log l ON l.materialization_id = chain.mat_hypertable_id
                         WHERE l.lowest_modified_value < $3::int8 AND l.greatest_modified_value >= $2::int8
                           AND l.greatest_modified_value <> 9223372036854775807)
             OR EXISTS (SELECT 1 FROM chain JOIN _timescaledb_catalog.continuous_aggs_hypertable_invalidation_log h ON h.hypertable_id = chain.raw_hypertable_id
                         WHERE h.lowest_modified_value < $3::int8 AND h.greatest_modified_value >= $2::int8) AS stale`,
        [view, us(a), us(b)],
      );
      return r.rows[0]!.stale;
    } catch {
      return true;
    }
  };

  /**
   * Which table answers which part of [from, to) for buckets of `secs`: the coarsest aggregate whose
   * width divides the bucket for the whole aggregate buckets inside the range, the next finer one for
   * the partial ones at either end, and so on down to the raw table for the last partial minutes. An
   * aggregate is skipped where it keeps no data that old or has unrefreshed changes (staleAggregate).
   */
  async function plan(secs: number, from: Date, to: Date): Promise<{ source: HistorySource; pieces: Piece[] }> {
    const levels = (await haveAggregates())
      ? AGGREGATE_SOURCES.filter((g) => {
          const keep = o.aggregateRetentionDays?.[g.source] ?? 0;
          return secs % g.widthS === 0 && !(keep > 0 && from.getTime() < Date.now() - keep * 86400_000);
        })
      : [];
    const split = async (a: Date, b: Date, ls: typeof levels): Promise<Piece[]> => {
      if (!(a < b)) return [];
      const [g, ...finer] = ls;
      if (!g) return [{ view: null, from: a, to: b }];
      const w = g.widthS * 1000;
      const x = new Date(Math.ceil(a.getTime() / w) * w);
      const y = new Date(Math.floor(b.getTime() / w) * w);
      if (!(x < y)) return split(a, b, finer);
      const middle: Piece[] = (await staleAggregate(g.view, x, y))
        ? await split(x, y, finer)
        : [{ view: g.view, source: g.source, from: x, to: y }];
      return [...(await split(a, x, finer)), ...middle, ...(await split(y, b, finer))];
    };
    const pieces = await split(from, to, levels);
    const used = AGGREGATE_SOURCES.find((g) => pieces.some((p) => p.view === g.view));
    return { source: used?.source ?? 'raw', pieces };
  }

  return {
    invalidate(monitorIds: number[]): void {
      for (const id of monitorIds) cache.delete(id);
    },
    async latest(monitorId: number): Promise<MetricsPoint | null> {
      const hit = cache.get(monitorId);
      if (hit && Date.now() - hit.at < o.latestCacheMs) return hit.point;
      const r = await o.pool.query('SELECT * FROM metrics_values WHERE monitor_id = $1 ORDER BY time DESC LIMIT 1', [
        monitorId,
      ]);
      const point = r.rows[0] ? toPoint(r.rows[0]) : null;
      if (o.latestCacheMs > 0) cache.set(monitorId, { at: Date.now(), point });
      if (cache.size > 100_000) cache.delete(cache.keys().next().value!);
      return point;
    },
    /**
     * Raw samples (no bucket), or one point per bucket with averages, min and max. On TimescaleDB a
     * bucket that is a multiple of an aggregate's width is read from the coarsest such aggregate for
     * the whole aggregate buckets in range, and from the raw table for the partial ones at either
     * end, so the numbers are those of the raw rows either way; `source` says which answered.
     */
    async history(
      monitorId: number,
      from: Date,
      to: Date,
      bucket?: string,
    ): Promise<{ bucket: string | null; source: HistorySource; points: MetricsPoint[] | MetricsBucket[] }> {
      if (!(from < to)) throw new AppError('VALIDATION_ERROR', 'from: must be before to', { field: 'from' });
      const rangeSec = (to.getTime() - from.getTime()) / 1000;
      if (!bucket) {
        const c = await o.pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM metrics WHERE monitor_id = $1 AND time >= $2 AND time < $3',
          [monitorId, from, to],
        );
        if (c.rows[0]!.n > o.maxRawPoints) {
          const s = suggestBucket(rangeSec, o.maxRawPoints);
          throw new AppError(
            'VALIDATION_ERROR',
            `the range holds ${c.rows[0]!.n} samples, more than ${o.maxRawPoints}: ask for averages with bucket=${s}`,
            { field: 'bucket', suggested_bucket: s },
          );
        }
        const r = await o.pool.query(
          'SELECT * FROM metrics_values WHERE monitor_id = $1 AND time >= $2 AND time < $3 ORDER BY time',
          [monitorId, from, to],
        );
        return { bucket: null, source: 'raw', points: r.rows.map(toPoint) };
      }
      const secs = parseBucket(bucket);
      if (rangeSec / secs > o.maxRawPoints) {
        throw new AppError(
          'VALIDATION_ERROR',
          `bucket: ${bucket} gives more than ${o.maxRawPoints} points over this range; use bucket=${suggestBucket(rangeSec, o.maxRawPoints)} or wider`,
          { field: 'bucket' },
        );
      }
      const { source, pieces } = await plan(secs, from, to);
      // Every piece as partial aggregates (one raw row is a partial aggregate of one sample), combined
      // per output bucket. Each piece is a plain range, so chunk exclusion applies. Views are constants.
      const params: unknown[] = [monitorId, secs];
      const parts = pieces.map((p) => {
        params.push(p.from, p.to);
        const [x, y] = [`$${params.length - 1}`, `$${params.length}`];
        return p.view === null
          ? `SELECT time AS t, ${RAW_PARTIAL} FROM metrics_values WHERE monitor_id = $1 AND time >= ${x} AND time < ${y}`
          : `SELECT bucket AS t, ${PARTIAL_COLUMNS.join(', ')} FROM ${p.view} WHERE monitor_id = $1 AND bucket >= ${x} AND bucket < ${y}`;
      });
      const r = await o.pool.query(
        `SELECT ${bucketFn('t', '$2')} AS time, ${COMBINE} FROM (${parts.join(' UNION ALL ')}) p GROUP BY 1 ORDER BY 1`,
        params,
      );
      return { bucket, source, points: r.rows.map(toBucket) };
    },
    /**
     * The fleet's `limit` monitors with the highest peak CPU over [from, to), from the 1-hour
     * aggregate when there is one (whole hours inside the range, the 5-minute one and raw rows for
     * the partial ones at the ends). Exact without grouping every monitor: a monitor in the top
     * `limit` has its peak in some aggregate bucket, and if more than `limit` monitors beat that value
     * inside the bucket before it (higher peak, or the same and a lower id), they all come before it
     * overall; so it is among its bucket's first `limit` rows by (cpu_max DESC, monitor_id). Each
     * bucket's first rows are one short scan of the (bucket, cpu_max DESC, monitor_id) index of
     * migration 0005; the few hundred candidates are then grouped. A raw piece (minutes) holds
     * several rows per monitor, so it is grouped per monitor first, then cut the same way.
     */
    async topPeakCpu(
      from: Date,
      to: Date,
      limit: number,
      o2: { source?: 'auto' | 'raw' } = {},
    ): Promise<{ source: HistorySource; rows: { monitor_id: number; peak_cpu_percent: number | null }[] }> {
      if (!(from < to)) throw new AppError('VALIDATION_ERROR', 'from: must be before to', { field: 'from' });
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
        throw new AppError('VALIDATION_ERROR', 'limit: must be an integer from 1 to 1000', { field: 'limit' });
      const { source, pieces } =
        o2.source === 'raw'
          ? { source: 'raw' as const, pieces: [{ view: null, from, to } as Piece] }
          : await plan(3600, from, to);
      // The aggregate views union their materialized rows (below the watermark) with rows computed
      // in real time: an ORDER BY ... LIMIT on the view sorts the whole bucket. So each bucket's top
      // rows are read from the materialization hypertable under the watermark (catalog of 2.x) and
      // the real-time buckets from the view, grouped; if the catalog cannot be read, every bucket
      // from the view, grouped.
      const mats = new Map<string, { mat: string; wm: Date }>();
      if (pieces.some((p) => p.view !== null)) {
        try {
          const m = await o.pool.query<{ view: string; mat: string; wm: Date }>(
            `SELECT c.user_view_name AS view, format('%I.%I', h.schema_name, h.table_name) AS mat,
                    _timescaledb_functions.to_timestamp(_timescaledb_functions.cagg_watermark(c.mat_hypertable_id)) AS wm
               FROM _timescaledb_catalog.continuous_agg c JOIN _timescaledb_catalog.hypertable h ON h.id = c.mat_hypertable_id
              WHERE c.user_view_schema = current_schema() AND c.user_view_name IN ('metrics_5m', 'metrics_1h')`,
          );
          for (const x of m.rows) mats.set(x.view, { mat: x.mat, wm: x.wm });
        } catch {
          mats.clear();
        }
      }
      const params: unknown[] = [limit];
      const range = (a: Date, b: Date): [string, string] => {
        params.push(a, b);
        return [`$${params.length - 1}`, `$${params.length}`];
      };
      const parts = pieces.flatMap((p) => {
        if (p.view === null) {
          const [x, y] = range(p.from, p.to);
          return [
            `(SELECT monitor_id, max(cpu_percent) AS m FROM metrics WHERE time >= ${x} AND time < ${y} GROUP BY 1 ORDER BY 2 DESC NULLS LAST, 1 FETCH FIRST $1 ROWS ONLY)`,
          ];
        }
        const mat = mats.get(p.view);
        const split = mat ? new Date(Math.min(p.to.getTime(), Math.max(p.from.getTime(), mat.wm.getTime()))) : p.from;
        const out: string[] = [];
        if (mat && p.from < split) {
          const widthS = AGGREGATE_SOURCES.find((g) => g.view === p.view)!.widthS;
          const [x, y] = range(p.from, split);
          // Pieces of an aggregate are whole buckets of it (plan()): [x, y) in steps of its width. The
          // constant range lets the planner exclude the other chunks (the lateral bucket cannot).
          // Within a bucket each monitor has one row, so its first N by (cpu_max DESC, monitor_id) hold
          // every monitor of the overall first N whose peak is in that bucket.
          out.push(`SELECT t.monitor_id, t.m FROM generate_series(${x}::timestamptz, ${y}::timestamptz - make_interval(secs => ${widthS}), make_interval(secs => ${widthS})) AS b(bucket)
                      CROSS JOIN LATERAL (SELECT v.monitor_id, v.cpu_max AS m FROM ${mat.mat} v
                        WHERE v.bucket = b.bucket AND v.bucket >= ${x} AND v.bucket < ${y}
                        ORDER BY v.cpu_max DESC NULLS LAST, v.monitor_id FETCH FIRST $1 ROWS ONLY) t`);
        }
        if (split < p.to) {
          const [x, y] = range(split, p.to);
          out.push(
            `SELECT monitor_id, max(cpu_max) AS m FROM ${p.view} WHERE bucket >= ${x} AND bucket < ${y} GROUP BY 1`,
          );
        }
        return out;
      });
      const r = await o.pool.query(
        `SELECT monitor_id, max(m) AS peak FROM (${parts.join(' UNION ALL ')}) x GROUP BY 1 ORDER BY peak DESC NULLS LAST, monitor_id LIMIT $1`,
        params,
      );
      return { source, rows: r.rows.map((x) => ({ monitor_id: x.monitor_id, peak_cpu_percent: round2(x.peak) })) };
    },
  };
}
export type MetricsQuery = ReturnType<typeof createMetricsQuery>;
