import type pg from 'pg';
import type { Log } from '../log.ts';

/**
 * Retention by DELETE: rows older than `retentionDays` (0 keeps them forever) go, once at start and
 * then every `everyMs`, in statements of at most `batch` rows until one comes back short, so a long
 * backlog never holds one huge lock. The cutoff is the database's clock, read once a sweep. A sweep
 * still running when the next is due is not doubled; a failed one is logged and the next tries again.
 * `first` settles when the first sweep has (it never rejects).
 */
export function startRetentionSweep(o: {
  pool: pg.Pool;
  log: Log;
  retentionDays: number;
  everyMs: number;
  batch: number;
  /** One DELETE of at most $2 rows older than the cutoff $1. */
  deleteSql: string;
  /** The log lines: a sweep that deleted rows, one that failed. */
  messages: { deleted: string; failed: string };
}): { first: Promise<void>; stop: () => void } {
  if (o.retentionDays <= 0) return { first: Promise.resolve(), stop: () => {} };
  let running = false;
  const sweep = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      let deleted = 0;
      const cutoff = (
        await o.pool.query<{ c: Date }>('SELECT now() - make_interval(days => $1) AS c', [o.retentionDays])
      ).rows[0]!.c;
      for (;;) {
        const r = await o.pool.query(o.deleteSql, [cutoff, o.batch]);
        deleted += r.rowCount ?? 0;
        if ((r.rowCount ?? 0) < o.batch) break;
      }
      if (deleted) o.log.info({ deleted, retention_days: o.retentionDays }, o.messages.deleted);
    } catch (err) {
      o.log.error({ err: (err as Error).message }, o.messages.failed);
    } finally {
      running = false;
    }
  };
  const first = sweep();
  const timer = setInterval(() => void sweep(), o.everyMs);
  timer.unref();
  return { first, stop: () => clearInterval(timer) };
}
