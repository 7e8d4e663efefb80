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

/** Percentages are derived here, at query time, from the stored totals (seed 000 §9). */
export function toPoint(r: Record<string, unknown>): MetricsPoint {
  return {
    timestamp: (r.time as Date).toISOString(),
    cpu: { usage_percent: round2(r.cpu_percent) },
    memory: { total_bytes: num(r.memory_total), used_bytes: num(r.memory_used), usage_percent: pct(r.memory_used, r.memory_total) },
    disk: { total_bytes: num(r.disk_total), used_bytes: num(r.disk_used), usage_percent: pct(r.disk_used, r.disk_total) },
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
  if (!m) throw new AppError('VALIDATION_ERROR', `bucket: '${b}' is not a duration like 30s, 5m, 1h or 1d`, { field: 'bucket' });
  const secs = Number(m[1]) * UNITS[m[2]!]!;
  if (secs < 1 || secs > 366 * 86400) throw new AppError('VALIDATION_ERROR', 'bucket: must be between 1s and 366d', { field: 'bucket' });
  return secs;
}

function suggestBucket(rangeSec: number, maxPoints: number): string {
  const need = rangeSec / maxPoints;
  for (const [label, secs] of [['1m', 60], ['5m', 300], ['15m', 900], ['1h', 3600], ['6h', 21600], ['1d', 86400]] as const) if (secs >= need) return label;
  return '7d';
}

export interface MetricsQueryOptions {
  pool: pg.Pool;
  mode: 'timescaledb' | 'plain';
  maxRawPoints: number;
  latestCacheMs: number;
}

/** The only reader of the metrics table. The latest sample per monitor is cached briefly. */
export function createMetricsQuery(o: MetricsQueryOptions) {
  const cache = new Map<number, { at: number; point: MetricsPoint | null }>();
  return {
    invalidate(monitorIds: number[]): void {
      for (const id of monitorIds) cache.delete(id);
    },
    async latest(monitorId: number): Promise<MetricsPoint | null> {
      const hit = cache.get(monitorId);
      if (hit && Date.now() - hit.at < o.latestCacheMs) return hit.point;
      const r = await o.pool.query('SELECT * FROM metrics WHERE monitor_id = $1 ORDER BY time DESC LIMIT 1', [monitorId]);
      const point = r.rows[0] ? toPoint(r.rows[0]) : null;
      if (o.latestCacheMs > 0) cache.set(monitorId, { at: Date.now(), point });
      if (cache.size > 100_000) cache.delete(cache.keys().next().value!);
      return point;
    },
    async history(monitorId: number, from: Date, to: Date, bucket?: string): Promise<{ bucket: string | null; points: MetricsPoint[] }> {
      if (!(from < to)) throw new AppError('VALIDATION_ERROR', 'from: must be before to', { field: 'from' });
      const rangeSec = (to.getTime() - from.getTime()) / 1000;
      if (!bucket) {
        const c = await o.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM metrics WHERE monitor_id = $1 AND time >= $2 AND time < $3', [monitorId, from, to]);
        if (c.rows[0]!.n > o.maxRawPoints) {
          const s = suggestBucket(rangeSec, o.maxRawPoints);
          throw new AppError('VALIDATION_ERROR', `the range holds ${c.rows[0]!.n} samples, more than ${o.maxRawPoints}: ask for averages with bucket=${s}`, { field: 'bucket', suggested_bucket: s });
        }
        const r = await o.pool.query('SELECT * FROM metrics WHERE monitor_id = $1 AND time >= $2 AND time < $3 ORDER BY time', [monitorId, from, to]);
        return { bucket: null, points: r.rows.map(toPoint) };
      }
      const secs = parseBucket(bucket);
      if (rangeSec / secs > o.maxRawPoints) {
        throw new AppError('VALIDATION_ERROR', `bucket: ${bucket} gives more than ${o.maxRawPoints} points over this range; use bucket=${suggestBucket(rangeSec, o.maxRawPoints)} or wider`, { field: 'bucket' });
      }
      // Plain PostgreSQL bins from TimescaleDB's default origin (Monday 2000-01-03), so a 7-day
      // bucket starts on the same day in both modes.
      const fn = o.mode === 'timescaledb' ? `time_bucket(make_interval(secs => $4), time)` : `date_bin(make_interval(secs => $4), time, TIMESTAMPTZ '2000-01-03 00:00:00+00')`;
      const r = await o.pool.query(
        `SELECT ${fn} AS time, avg(cpu_percent) AS cpu_percent, avg(memory_total) AS memory_total, avg(memory_used) AS memory_used,
                avg(disk_total) AS disk_total, avg(disk_used) AS disk_used, avg(net_sent_ps) AS net_sent_ps, avg(net_recv_ps) AS net_recv_ps,
                avg(net_utilization) AS net_utilization, max(packets_sent) AS packets_sent, max(packets_recv) AS packets_recv,
                max(net_errors) AS net_errors, max(net_dropped) AS net_dropped, round(avg(process_count)) AS process_count, round(avg(collection_ms)) AS collection_ms
           FROM metrics WHERE monitor_id = $1 AND time >= $2 AND time < $3 GROUP BY 1 ORDER BY 1`,
        [monitorId, from, to, secs],
      );
      return { bucket, points: r.rows.map((row) => toPoint({ ...row, memory_total: row.memory_total && Math.round(Number(row.memory_total)), memory_used: row.memory_used && Math.round(Number(row.memory_used)), disk_total: row.disk_total && Math.round(Number(row.disk_total)), disk_used: row.disk_used && Math.round(Number(row.disk_used)) })) };
    },
  };
}
export type MetricsQuery = ReturnType<typeof createMetricsQuery>;
