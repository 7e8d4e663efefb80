import type pg from 'pg';
import type { Log } from '../log.ts';
import { startRetentionSweep } from '../db/retention-sweep.ts';

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
  return startRetentionSweep({
    pool: o.pool,
    log: o.log,
    retentionDays: o.retentionDays,
    everyMs: o.everyMs ?? 3600_000,
    batch: o.batch ?? 10_000,
    deleteSql: 'DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE time < $1 ORDER BY time LIMIT $2)',
    messages: { deleted: 'old audit log entries deleted', failed: 'audit log retention sweep failed' },
  }).stop;
}
