import type pg from 'pg';
import type { Log } from '../log.ts';

export interface RetentionOptions {
  pool: pg.Pool;
  mode: 'timescaledb' | 'plain';
  log: Log;
  /** 0 keeps metrics forever (seed 000's default). */
  retentionDays: number;
  /** TimescaleDB only: compress chunks older than this; 0 turns compression off. */
  compressAfterDays: number;
  /** Plain PostgreSQL: how often old rows are deleted. */
  sweepEveryMs?: number;
}

/**
 * Applies the configured retention and compression at start. On TimescaleDB these are background
 * policies; on plain PostgreSQL a periodic DELETE in small batches does retention, and nothing
 * compresses. Returns a stop function.
 */
export async function applyRetention(o: RetentionOptions): Promise<() => void> {
  if (o.mode === 'timescaledb') {
    // Re-applied on every start: remove then add, because add_…_policy(if_not_exists) keeps an
    // existing policy with other arguments (a changed compress_after_days would be ignored, 0
    // would never turn it off).
    await o.pool.query("SELECT remove_compression_policy('metrics', if_exists => true)");
    if (o.compressAfterDays > 0) {
      // TimescaleDB before 2.14 refuses this ALTER once any chunk is compressed, even unchanged.
      const c = await o.pool.query<{ compression_enabled: boolean }>("SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = 'metrics'");
      if (!c.rows[0]?.compression_enabled) {
        await o.pool.query("ALTER TABLE metrics SET (timescaledb.compress, timescaledb.compress_segmentby = 'monitor_id', timescaledb.compress_orderby = 'time DESC')");
      }
      await o.pool.query("SELECT add_compression_policy('metrics', make_interval(days => $1))", [o.compressAfterDays]);
    }
    await o.pool.query("SELECT remove_retention_policy('metrics', if_exists => true)");
    if (o.retentionDays > 0) await o.pool.query("SELECT add_retention_policy('metrics', make_interval(days => $1))", [o.retentionDays]);
    o.log.info({ retention_days: o.retentionDays || 'forever', compress_after_days: o.compressAfterDays || 'off' }, 'metrics retention and compression policies applied');
    return () => {};
  }
  if (o.retentionDays <= 0) return () => {};
  const sweep = async (): Promise<void> => {
    try {
      let deleted = 0;
      for (;;) {
        const r = await o.pool.query('DELETE FROM metrics WHERE ctid IN (SELECT ctid FROM metrics WHERE time < now() - make_interval(days => $1) LIMIT 10000)', [o.retentionDays]);
        deleted += r.rowCount ?? 0;
        if ((r.rowCount ?? 0) < 10000) break;
      }
      if (deleted) o.log.info({ deleted, retention_days: o.retentionDays }, 'old metrics deleted');
    } catch (err) {
      o.log.error({ err: (err as Error).message }, 'metrics retention sweep failed');
    }
  };
  await sweep();
  const timer = setInterval(() => void sweep(), o.sweepEveryMs ?? 3600_000);
  timer.unref();
  return () => clearInterval(timer);
}
