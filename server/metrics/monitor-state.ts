import type pg from 'pg';
import type { PollResult } from './poll-result.ts';

/**
 * Per-monitor summary of one batch, applied with one UPDATE … FROM unnest(…).
 * Replays are harmless: a success counts only if newer than last_polled, failures only if newer
 * than last_error_at, so the same batch written twice leaves the same state.
 */
interface Summary {
  lastSuccess: number | null;
  failuresAfterSuccess: number;
  failures: number;
  lastFailure: number | null;
  message: string | null;
  cls: string | null;
}

export function summarise(results: readonly PollResult[]): Map<number, Summary> {
  const byMonitor = new Map<number, PollResult[]>();
  for (const r of results) {
    let list = byMonitor.get(r.monitor_id);
    if (!list) byMonitor.set(r.monitor_id, (list = []));
    list.push(r);
  }
  const out = new Map<number, Summary>();
  for (const [id, list] of byMonitor) {
    const s: Summary = { lastSuccess: null, failuresAfterSuccess: 0, failures: 0, lastFailure: null, message: null, cls: null };
    for (const r of list) if (r.ok && (s.lastSuccess === null || r.time.getTime() > s.lastSuccess)) s.lastSuccess = r.time.getTime();
    const seen = new Set<number>();
    for (const r of list) {
      if (r.ok) continue;
      const t = r.time.getTime();
      if (seen.has(t)) continue;
      seen.add(t);
      s.failures++;
      if (s.lastSuccess === null || t > s.lastSuccess) s.failuresAfterSuccess++;
      if (s.lastFailure === null || t >= s.lastFailure) {
        s.lastFailure = t;
        s.message = r.failure.message;
        s.cls = r.failure.class;
      }
    }
    out.set(id, s);
  }
  return out;
}

const UPDATE = `
  WITH u AS (
    SELECT * FROM unnest($1::int[], $2::timestamptz[], $3::int[], $4::int[], $5::timestamptz[], $6::text[], $7::text[])
      AS u(id, s_last, f_after, f_count, f_last, f_msg, f_class)
  )
  UPDATE monitors m SET
    last_polled = CASE WHEN u.s_last > m.last_polled OR (u.s_last IS NOT NULL AND m.last_polled IS NULL)
                       THEN u.s_last ELSE m.last_polled END,
    consecutive_failures = CASE
      WHEN u.s_last > m.last_polled OR (u.s_last IS NOT NULL AND m.last_polled IS NULL) THEN u.f_after
      WHEN u.f_last > m.last_error_at OR (u.f_last IS NOT NULL AND m.last_error_at IS NULL)
        THEN m.consecutive_failures + u.f_count
      ELSE m.consecutive_failures END,
    last_error = CASE WHEN u.f_last > m.last_error_at OR (u.f_last IS NOT NULL AND m.last_error_at IS NULL)
                      THEN u.f_msg ELSE m.last_error END,
    last_error_class = CASE WHEN u.f_last > m.last_error_at OR (u.f_last IS NOT NULL AND m.last_error_at IS NULL)
                      THEN u.f_class ELSE m.last_error_class END,
    last_error_at = CASE WHEN u.f_last > m.last_error_at OR (u.f_last IS NOT NULL AND m.last_error_at IS NULL)
                      THEN u.f_last ELSE m.last_error_at END
  FROM u WHERE m.id = u.id
  RETURNING m.id, m.device_id`;

/** Applies the batch's monitor state; returns monitor id → device id for the monitors that exist. */
export async function updateMonitorState(
  client: pg.PoolClient | pg.Client,
  summaries: Map<number, Summary>,
): Promise<Map<number, number>> {
  const ids: number[] = [];
  const sLast: (Date | null)[] = [];
  const fAfter: number[] = [];
  const fCount: number[] = [];
  const fLast: (Date | null)[] = [];
  const fMsg: (string | null)[] = [];
  const fClass: (string | null)[] = [];
  for (const [id, s] of summaries) {
    ids.push(id);
    sLast.push(s.lastSuccess === null ? null : new Date(s.lastSuccess));
    fAfter.push(s.failuresAfterSuccess);
    fCount.push(s.failures);
    fLast.push(s.lastFailure === null ? null : new Date(s.lastFailure));
    fMsg.push(s.message);
    fClass.push(s.cls);
  }
  const r = await client.query<{ id: number; device_id: number }>(UPDATE, [ids, sLast, fAfter, fCount, fLast, fMsg, fClass]);
  return new Map(r.rows.map((row) => [Number(row.id), Number(row.device_id)]));
}
