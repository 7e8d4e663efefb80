import type pg from 'pg';
import type { PollResult } from './poll-result.ts';

/**
 * Per-monitor summary of one batch, applied with one UPDATE. The metrics writer is the only code
 * that updates monitors' state columns (last_polled, last_attempted, last_error*,
 * consecutive_failures), always in the transaction that stores the batch's metrics; the one other
 * write is the monitors service's reset of consecutive_failures when a device is set active again,
 * which locks the rows in the same (id) order.
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
    if (!s)
      out.set(id, (s = { lastSuccess: null, lastAttempt: null, failuresAfterSuccess: 0, counted: [], error: null }));
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
    if (s.error === null || t >= s.error.at)
      s.error = { at: t, message: r.failure.message, cls: r.failure.class, server: false };
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
    if (s.error === null || t > s.error.at)
      s.error = { at: t, message: r.failure.message, cls: r.failure.class, server: true };
  }
  return out;
}

/**
 * Row locks come first, in a statement of their own, in id order (FOR NO KEY UPDATE: the lock an
 * UPDATE takes, which does not conflict with the KEY SHARE locks of the metrics foreign key). Any
 * two batches then lock the rows they share in the same order and can never deadlock, whatever
 * plan the UPDATE gets. Locking in a separate statement matters: the UPDATE's fresh snapshot then
 * sees the latest version of every row it holds, so it never has to chase a row version updated
 * after its snapshot (locking in a CTE of the UPDATE itself still deadlocked on the old version's
 * tuple lock: seen on PostgreSQL 15 + TimescaleDB by test/integration/metrics/deadlock.test.ts).
 */
const LOCK = 'SELECT 1 FROM monitors WHERE id = ANY($1::int[]) ORDER BY id FOR NO KEY UPDATE';

// Newer than the recorded error (an agent's error also replaces a server-made one for the same
// slot), and a server-made error only when no agent result at or after its slot is stored.
const RECORD_ERROR = `(u.e_at IS NOT NULL
     AND (m.last_error_at IS NULL OR u.e_at > m.last_error_at OR (u.e_at = m.last_error_at AND NOT u.e_server))
     AND (NOT u.e_server OR m.last_attempted IS NULL OR u.e_at > m.last_attempted))`;

const UPDATE = `
  WITH u AS (
    SELECT * FROM unnest($1::int[], $2::timestamptz[], $3::timestamptz[], $4::int[], $5::timestamptz[], $6::text[], $7::text[], $8::bool[])
      AS u(id, s_last, a_last, f_after, e_at, e_msg, e_class, e_server)
  ),
  c AS (
    SELECT f.id, count(*)::int AS n
      FROM unnest($9::int[], $10::timestamptz[]) AS f(id, t) JOIN monitors mm ON mm.id = f.id
     WHERE mm.last_attempted IS NULL OR f.t > mm.last_attempted
     GROUP BY f.id
  )
  UPDATE monitors m SET
    last_attempted = GREATEST(m.last_attempted, u.a_last),
    last_polled = GREATEST(m.last_polled, u.s_last),
    consecutive_failures = CASE
      WHEN u.s_last IS NOT NULL AND (m.last_polled IS NULL OR u.s_last > m.last_polled)
           AND (m.last_attempted IS NULL OR u.s_last >= m.last_attempted) THEN u.f_after
      ELSE m.consecutive_failures + coalesce(c.n, 0) END,
    last_error = CASE WHEN ${RECORD_ERROR} THEN u.e_msg ELSE m.last_error END,
    last_error_class = CASE WHEN ${RECORD_ERROR} THEN u.e_class ELSE m.last_error_class END,
    last_error_at = CASE WHEN ${RECORD_ERROR} THEN u.e_at ELSE m.last_error_at END
  FROM u LEFT JOIN c ON c.id = u.id
  WHERE m.id = u.id
  RETURNING m.id, m.device_id`;

const date = (t: number | null): Date | null => (t === null ? null : new Date(t));

/**
 * Applies the batch's monitor state inside the caller's transaction (two statements: lock, then
 * update); returns monitor id → device id for the monitors that exist.
 */
export async function updateMonitorState(
  client: pg.PoolClient | pg.Client,
  summaries: Map<number, Summary>,
): Promise<Map<number, number>> {
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
  await client.query(LOCK, [ids]);
  const r = await client.query<{ id: number; device_id: number }>(UPDATE, [
    ids,
    sLast,
    aLast,
    fAfter,
    eAt,
    eMsg,
    eClass,
    eServer,
    cId,
    cAt,
  ]);
  return new Map(r.rows.map((row) => [Number(row.id), Number(row.device_id)]));
}
