import type pg from 'pg';
import type { Log } from '../log.ts';
import { startRetentionSweep } from '../db/retention-sweep.ts';

/** The continuous aggregates migration 0002 creates on TimescaleDB, finest first. */
export const AGGREGATES = [
  { view: 'metrics_5m', widthS: 300, source: 'metrics' },
  { view: 'metrics_1h', widthS: 3600, source: 'metrics_5m' },
] as const;

export interface AggregateSettings {
  /** Days the 5-minute aggregate keeps; 0 forever. Never shorter than the raw retention (config checks). */
  retention5mDays: number;
  /** Days the 1-hour aggregate keeps; 0 forever. */
  retention1hDays: number;
  /** Compress aggregate chunks older than this; 0 turns it off. */
  compressAfterDays: number;
}

export interface RetentionOptions {
  pool: pg.Pool;
  mode: 'timescaledb' | 'plain';
  log: Log;
  /** 0 keeps metrics forever (the default). */
  retentionDays: number;
  /** TimescaleDB only: compress chunks older than this; 0 turns compression off. */
  compressAfterDays: number;
  /** TimescaleDB only: the raw table's chunk interval for new chunks. */
  chunkIntervalHours: number;
  /** TimescaleDB only: the aggregates' own retention and compression. */
  aggregates: AggregateSettings;
  /** Plain PostgreSQL: how often old rows are deleted. */
  sweepEveryMs?: number;
  /** Plain PostgreSQL: rows per DELETE statement (default 10,000). */
  sweepBatch?: number;
}

const DAY = 86400;
/** How TimescaleDB reads an interval in a job's config: whole days when it can. */
const intervalText = (secs: number): string => (secs % DAY === 0 ? `${secs / DAY} days` : `${secs} seconds`);

type Proc = 'policy_compression' | 'policy_retention' | 'policy_refresh_continuous_aggregate';
type Action = 'kept' | 'altered' | 'added' | 'removed' | 'off';

/**
 * Makes one policy job of `relation` match `want` (config keys -> seconds, null = unbounded), or
 * removes it when `want` is undefined. An unchanged job is left alone (same id, run history and next
 * start); a changed one is altered in place; only a missing one is added. Extra jobs of the same
 * kind (an older version's duplicates) are deleted.
 */
async function ensureJob(
  pool: pg.Pool,
  relation: string,
  proc: Proc,
  want: { config: Record<string, number | null>; scheduleS?: number } | undefined,
  add: () => Promise<unknown>,
): Promise<{ action: Action; jobId: number | null }> {
  const keys = want ? Object.keys(want.config) : [];
  const r = await pool.query<{ job_id: number; schedule_s: number; secs: Record<string, number | null> | null }>(
    `SELECT job_id, extract(epoch FROM schedule_interval)::float8 AS schedule_s,
            (SELECT jsonb_object_agg(k, CASE WHEN config->>k IS NULL THEN NULL ELSE extract(epoch FROM (config->>k)::interval) END) FROM unnest($3::text[]) AS k) AS secs
       FROM timescaledb_information.jobs
      WHERE proc_name = $1 AND hypertable_schema = current_schema() AND hypertable_name = $2
      ORDER BY job_id`,
    [proc, relation, keys],
  );
  const [job, ...extra] = r.rows;
  for (const x of extra) await pool.query('SELECT delete_job($1)', [x.job_id]);
  if (!want) {
    if (!job) return { action: 'off', jobId: null };
    await pool.query('SELECT delete_job($1)', [job.job_id]);
    return { action: 'removed', jobId: null };
  }
  if (!job) {
    await add();
    const n = await pool.query<{ job_id: number }>(
      'SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = $1 AND hypertable_schema = current_schema() AND hypertable_name = $2',
      [proc, relation],
    );
    return { action: 'added', jobId: n.rows[0]?.job_id ?? null };
  }
  const patch: Record<string, string | null> = {};
  for (const k of keys) {
    const have = job.secs?.[k] ?? null;
    const w = want.config[k] ?? null;
    if ((have === null) !== (w === null) || (have !== null && Number(have) !== w))
      patch[k] = w === null ? null : intervalText(w);
  }
  const schedChanged = want.scheduleS !== undefined && Number(job.schedule_s) !== want.scheduleS;
  if (Object.keys(patch).length === 0 && !schedChanged) return { action: 'kept', jobId: job.job_id };
  await pool.query(
    `SELECT alter_job(j.job_id, config => j.config || $2::jsonb, schedule_interval => $3::interval)
       FROM timescaledb_information.jobs j WHERE j.job_id = $1`,
    [job.job_id, JSON.stringify(patch), schedChanged ? intervalText(want.scheduleS!) : null],
  );
  return { action: 'altered', jobId: job.job_id };
}

const AGE_POLICIES = {
  compression: { proc: 'policy_compression', key: 'compress_after' },
  retention: { proc: 'policy_retention', key: 'drop_after' },
} as const;

/** ensureJob for `relation`'s compression or retention policy: chunks older than `days` (0: no policy). */
const ensureAgePolicy = (pool: pg.Pool, relation: string, kind: keyof typeof AGE_POLICIES, days: number) => {
  const { proc, key } = AGE_POLICIES[kind];
  return ensureJob(pool, relation, proc, days > 0 ? { config: { [key]: days * DAY } } : undefined, () =>
    // kind and key are this module's constants, never input.
    pool.query(`SELECT add_${kind}_policy($1::regclass, ${key} => make_interval(days => $2))`, [relation, days]),
  );
};

/** Sets the chunk interval of new chunks when it differs. Returns whether it changed. */
async function ensureChunkInterval(pool: pg.Pool, relation: string, secs: number): Promise<boolean> {
  // For a continuous aggregate the dimension belongs to its materialization hypertable.
  const r = await pool.query<{ s: number }>(
    `SELECT extract(epoch FROM d.time_interval)::float8 AS s
       FROM timescaledb_information.dimensions d
      WHERE (d.hypertable_schema, d.hypertable_name) = (
              SELECT COALESCE(c.materialization_hypertable_schema, current_schema()), COALESCE(c.materialization_hypertable_name, $1)
                FROM (SELECT 1) one
                LEFT JOIN timescaledb_information.continuous_aggregates c ON c.view_schema = current_schema() AND c.view_name = $1)
        AND d.dimension_type = 'Time'`,
    [relation],
  );
  if (r.rows[0] && Number(r.rows[0].s) === secs) return false;
  await pool.query('SELECT set_chunk_time_interval($1::regclass, make_interval(secs => $2))', [relation, secs]);
  return true;
}

/** Turns compression on with the wanted segmenting and order, only when it is off or different. */
async function ensureCompression(
  pool: pg.Pool,
  log: Log,
  relation: string,
  kind: 'TABLE' | 'MATERIALIZED VIEW',
  orderby: string,
): Promise<boolean> {
  const r = await pool.query<{ segmentby: string | null; orderby: string | null }>(
    `SELECT string_agg(attname, ',' ORDER BY segmentby_column_index) FILTER (WHERE segmentby_column_index IS NOT NULL) AS segmentby,
            string_agg(attname || CASE WHEN orderby_asc THEN '' ELSE ' DESC' END, ',' ORDER BY orderby_column_index) FILTER (WHERE orderby_column_index IS NOT NULL) AS orderby
       FROM timescaledb_information.compression_settings s
      WHERE (s.hypertable_schema, s.hypertable_name) = (
              SELECT COALESCE(c.materialization_hypertable_schema, current_schema()), COALESCE(c.materialization_hypertable_name, $1)
                FROM (SELECT 1) one
                LEFT JOIN timescaledb_information.continuous_aggregates c ON c.view_schema = current_schema() AND c.view_name = $1)`,
    [relation],
  );
  const have = r.rows[0];
  if (have && have.segmentby === 'monitor_id' && have.orderby === orderby) return false;
  // The names are this module's constants, never input.
  const option = kind === 'TABLE' ? 'timescaledb.compress' : 'timescaledb.compress = true';
  try {
    await pool.query(
      `ALTER ${kind} ${relation} SET (${option}, timescaledb.compress_segmentby = 'monitor_id', timescaledb.compress_orderby = '${orderby}')`,
    );
  } catch (err) {
    // TimescaleDB before 2.14 refuses this once chunks are compressed: keep the old settings.
    log.warn(
      { relation, have, err: (err as Error).message },
      'could not change the compression settings; keeping the existing ones',
    );
  }
  return true;
}

/**
 * Applies the configured storage settings at start. On TimescaleDB: the raw table's chunk interval,
 * compression (segmented by monitor, ordered by time) and drop_chunks retention, and for each
 * continuous aggregate its refresh policy, compression and retention: every policy idempotently
 * (see ensureJob). On plain PostgreSQL a periodic batched DELETE does retention, and nothing
 * compresses. Returns a stop function.
 */
export async function applyRetention(o: RetentionOptions): Promise<() => void> {
  if (o.mode === 'timescaledb') {
    await applyTimescale(o);
    return () => {};
  }
  const sweep = startRetentionSweep({
    pool: o.pool,
    log: o.log,
    retentionDays: o.retentionDays,
    everyMs: o.sweepEveryMs ?? 3600_000,
    batch: o.sweepBatch ?? 10_000,
    // By the (monitor_id, time) key, not ctid: ctids repeat across partitions and chunks.
    deleteSql: `DELETE FROM metrics m USING (SELECT monitor_id, time FROM metrics WHERE time < $1 ORDER BY time LIMIT $2) old
      WHERE m.monitor_id = old.monitor_id AND m.time = old.time`,
    messages: { deleted: 'old metrics deleted', failed: 'metrics retention sweep failed' },
  });
  await sweep.first;
  return sweep.stop;
}

async function applyTimescale(o: RetentionOptions): Promise<void> {
  const chunkS = o.chunkIntervalHours * 3600;
  const agg = o.aggregates;
  const done: Record<string, unknown> = {};
  if (await ensureChunkInterval(o.pool, 'metrics', chunkS)) done.metrics_chunk_interval = intervalText(chunkS);
  if (o.compressAfterDays > 0 && (await ensureCompression(o.pool, o.log, 'metrics', 'TABLE', 'time DESC')))
    done.metrics_compression = 'enabled';
  const jobs: Record<string, string> = {};
  const note = (name: string, r: { action: Action; jobId: number | null }) => {
    jobs[name] = r.jobId === null ? r.action : `${r.action} (job ${r.jobId})`;
  };
  note('metrics compression', await ensureAgePolicy(o.pool, 'metrics', 'compression', o.compressAfterDays));
  note('metrics retention', await ensureAgePolicy(o.pool, 'metrics', 'retention', o.retentionDays));

  // Each layer is refreshed only as far back as the layer below still holds data: refreshing a
  // window whose source rows were dropped would empty the aggregate there.
  const retention: Record<string, number> = {
    metrics: o.retentionDays,
    metrics_5m: agg.retention5mDays,
    metrics_1h: agg.retention1hDays,
  };
  for (const [i, a] of AGGREGATES.entries()) {
    const exists = (await o.pool.query('SELECT to_regclass($1) AS r', [a.view])).rows[0].r;
    if (!exists) {
      o.log.warn({ view: a.view }, 'continuous aggregate missing (migrations create it): history reads the raw table');
      continue;
    }
    // Chunks ten times the layer below: about as many rows per chunk, and as few chunks.
    if (await ensureChunkInterval(o.pool, a.view, chunkS * 10 ** (i + 1)))
      done[`${a.view}_chunk_interval`] = intervalText(chunkS * 10 ** (i + 1));
    const lookback = retention[a.source]! > 0 ? retention[a.source]! * DAY : null;
    note(
      `${a.view} refresh`,
      await ensureJob(
        o.pool,
        a.view,
        'policy_refresh_continuous_aggregate',
        { config: { start_offset: lookback, end_offset: a.widthS }, scheduleS: a.widthS === 300 ? 300 : 1800 },
        () =>
          o.pool.query(
            'SELECT add_continuous_aggregate_policy($1::regclass, start_offset => $2::interval, end_offset => $3::interval, schedule_interval => $4::interval)',
            [
              a.view,
              lookback === null ? null : intervalText(lookback),
              intervalText(a.widthS),
              intervalText(a.widthS === 300 ? 300 : 1800),
            ],
          ),
      ),
    );
    if (agg.compressAfterDays > 0 && (await ensureCompression(o.pool, o.log, a.view, 'MATERIALIZED VIEW', 'bucket')))
      done[`${a.view}_compression`] = 'enabled';
    note(`${a.view} compression`, await ensureAgePolicy(o.pool, a.view, 'compression', agg.compressAfterDays));
    note(`${a.view} retention`, await ensureAgePolicy(o.pool, a.view, 'retention', retention[a.view]!));
  }
  o.log.info(
    {
      retention_days: o.retentionDays || 'forever',
      compress_after_days: o.compressAfterDays || 'off',
      chunk_interval_h: chunkS / 3600,
      aggregates: {
        retention_5m_days: agg.retention5mDays || 'forever',
        retention_1h_days: agg.retention1hDays || 'forever',
        compress_after_days: agg.compressAfterDays || 'off',
      },
      changed: done,
      jobs,
    },
    'metrics storage policies applied',
  );
}
