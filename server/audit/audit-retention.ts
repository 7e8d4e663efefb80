import type pg from 'pg';
import type { Log } from '../log.ts';

/**
 * Deletes audit entries older than `retentionDays` (0 keeps them forever): once at start, then every
 * `everyMs`, in batches so a long backlog never holds one huge lock. Returns a stop function.
 */
export function startAuditRetention(o: {
  pool: pg.Pool;
  log: Log;
  retentionDays: number;
  everyMs?: number;
  batch?: number;
}): () => void {
  if (o.retentionDays <= 0) return () => {};
  const batch = o.batch ?? 10_000;
  let running = false;
  const sweep = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      let deleted = 0;
      for (;;) {
        const r = await o.pool.query(
          'DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE time < now() - make_interval(days => $1) ORDER BY time LIMIT $2)',
          [o.retentionDays, batch],
        );
        deleted += r.rowCount ?? 0;
        if ((r.rowCount ?? 0) < batch) break;
      }
      if (deleted) o.log.info({ deleted, retention_days: o.retentionDays }, 'old audit log entries deleted');
    } catch (err) {
      o.log.error({ err: (err as Error).message }, 'audit log retention sweep failed');
    } finally {
      running = false;
    }
  };
  void sweep();
  const timer = setInterval(() => void sweep(), o.everyMs ?? 3600_000);
  timer.unref();
  return () => clearInterval(timer);
}
