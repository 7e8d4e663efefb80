import type pg from 'pg';
import type { PollResult } from './poll-result.ts';

/**
 * Per-monitor summary of one batch, applied with one UPDATE. The metrics writer is the only code
 * that updates monitors' state columns (last_polled, last_attempted, last_error*,
 * consecutive_failures), always in the transaction that stores the batch's metrics.
 *
 * Replays are harmless: a success counts only if newer than last_polled, an agent failure counts in
 * consecutive_failures only if newer than last_attempted (the newest agent result seen), so the
 * same batch written twice leaves the same state. `agent_offline` failures and every server-made
 * (`source: 'server'`) failure never count: a cut link says nothing about the host.
 */
export interface Summary {
  /** Newest agent success. */
  lastSuccess: number | null;
  /** Newest agent result of any kind (last_attempted). */
  lastAttempt: number | null;
  /** Counted agent failures newer than `lastSuccess` (consecutive_failures after a reset). */
  failuresAfterSuccess: number;
  /** Times of the counted agent failures, distinct. */
  counted: number[];
  /** The error to record in last_error*, if newer than what the row has. */
  error: { at: number; message: string; cls: string; server: boolean } | null;
}

export function summarise(results: readonly PollResult[]): Map<number, Summary> {
  const out = new Map<number, Summary>();
  const get = (id: number): Summary => {
    let s = out.get(id);
    if (!s) out.set(id, (s = { lastSuccess: null, lastAttempt: null, failuresAfterSuccess: 0, counted: [], error: null }));
    return s;
  };
  let serverErrors: PollResult[] | undefined;
  for (const r of results) {
    if (r.source === 'server') {
      if (!r.ok) (serverErrors ??= []).push(r);
      continue;
    }
    const s = get(r.monitor_id);
    const t = r.time.getTime();
    if (s.lastAttempt === null || t > s.lastAttempt) s.lastAttempt = t;
    if (r.ok) {
      if (s.lastSuccess === null || t > s.lastSuccess) s.lastSuccess = t;
      continue;
    }
    if (r.failure.class !== 'agent_offline' && !s.counted.includes(t)) s.counted.push(t);
    if (s.error === null || t >= s.error.at) s.error = { at: t, message: r.failure.message, cls: r.failure.class, server: false };
  }
  for (const s of out.values()) {
    if (s.lastSuccess === null) s.failuresAfterSuccess = s.counted.length;
    else for (const t of s.counted) if (t > s.lastSuccess) s.failuresAfterSuccess++;
  }
  // A server-made failure stands only where the batch has no agent result at or after its slot.
  for (const r of serverErrors ?? []) {
    if (r.ok) continue;
    const s = get(r.monitor_id);
    const t = r.time.getTime();
    if (s.lastAttempt !== null && t <= s.lastAttempt) continue;
    if (s.error === null || t > s.error.at) s.error = { at: t, message: r.failure.message, cls: r.failure.class, server: true };
  }
  return out;
}

/**
 * Row locks are taken in one place, in id order (`l`, FOR NO KEY UPDATE — the lock an UPDATE takes,
 * which does not conflict with the KEY SHARE locks of the metrics foreign key): any two batches
 * lock the rows they share in the same order and so can never deadlock, whatever plan the UPDATE
 * gets. The UPDATE only touches rows `l` has emitted, hence already locked.
 */
// Newer than the recorded error (an agent's error also replaces a server-made one for the same
// slot), and a server-made error only when no agent result at or after its slot is stored.
const RECORD_ERROR = `(x.e_at IS NOT NULL
     AND (m.last_error_at IS NULL OR x.e_at > m.last_error_at OR (x.e_at = m.last_error_at AND NOT x.e_server))
     AND (NOT x.e_server OR m.last_attempted IS NULL OR x.e_at > m.last_attempted))`;

const UPDATE = `
  WITH u AS (
    SELECT * FROM unnest($1::int[], $2::timestamptz[], $3::timestamptz[], $4::int[], $5::timestamptz[], $6::text[], $7::text[], $8::bool[])
      AS u(id, s_last, a_last, f_after, e_at, e_msg, e_class, e_server)
  ),
  l AS MATERIALIZED (
    SELECT m.id, m.last_attempted FROM monitors m WHERE m.id = ANY($1::int[]) ORDER BY m.id FOR NO KEY UPDATE
  ),
  c AS (
    SELECT f.id, count(*)::int AS n
      FROM unnest($9::int[], $10::timestamptz[]) AS f(id, t) JOIN l ON l.id = f.id
     WHERE l.last_attempted IS NULL OR f.t > l.last_attempted
     GROUP BY f.id
  ),
  x AS (
    SELECT u.*, coalesce(c.n, 0) AS n FROM u JOIN l ON l.id = u.id LEFT JOIN c ON c.id = u.id
  )
  UPDATE monitors m SET
    last_attempted = GREATEST(m.last_attempted, x.a_last),
    last_polled = GREATEST(m.last_polled, x.s_last),
    consecutive_failures = CASE
      WHEN x.s_last IS NOT NULL AND (m.last_polled IS NULL OR x.s_last > m.last_polled)
           AND (m.last_attempted IS NULL OR x.s_last >= m.last_attempted) THEN x.f_after
      ELSE m.consecutive_failures + x.n END,
    last_error = CASE WHEN ${RECORD_ERROR} THEN x.e_msg ELSE m.last_error END,
    last_error_class = CASE WHEN ${RECORD_ERROR} THEN x.e_class ELSE m.last_error_class END,
    last_error_at = CASE WHEN ${RECORD_ERROR} THEN x.e_at ELSE m.last_error_at END
  FROM x WHERE m.id = x.id
  RETURNING m.id, m.device_id`;

const date = (t: number | null): Date | null => (t === null ? null : new Date(t));

/** Applies the batch's monitor state; returns monitor id → device id for the monitors that exist. */
export async function updateMonitorState(client: pg.PoolClient | pg.Client, summaries: Map<number, Summary>): Promise<Map<number, number>> {
  if (summaries.size === 0) return new Map();
  const ids: number[] = [];
  const sLast: (Date | null)[] = [];
  const aLast: (Date | null)[] = [];
  const fAfter: number[] = [];
  const eAt: (Date | null)[] = [];
  const eMsg: (string | null)[] = [];
  const eClass: (string | null)[] = [];
  const eServer: boolean[] = [];
  const cId: number[] = [];
  const cAt: Date[] = [];
  for (const [id, s] of summaries) {
    ids.push(id);
    sLast.push(date(s.lastSuccess));
    aLast.push(date(s.lastAttempt));
    fAfter.push(s.failuresAfterSuccess);
    eAt.push(date(s.error?.at ?? null));
    eMsg.push(s.error?.message ?? null);
    eClass.push(s.error?.cls ?? null);
    eServer.push(s.error?.server ?? false);
    for (const t of s.counted) {
      cId.push(id);
      cAt.push(new Date(t));
    }
  }
  const r = await client.query<{ id: number; device_id: number }>(UPDATE, [ids, sLast, aLast, fAfter, eAt, eMsg, eClass, eServer, cId, cAt]);
  return new Map(r.rows.map((row) => [Number(row.id), Number(row.device_id)]));
}
