/**
 * The agent's outbox for results (Telegraf's Buffer, made durable): the runner appends, the link
 * takes batches with `next`, and a record leaves only when the server acknowledges its sequence
 * number — which the server does after the transaction that stored it commits.
 *
 * Contract: `append` resolves once the records are durable (disk: fsynced) and returns their
 * sequence numbers, which increase by one and are never reused. At the size cap the OLDEST
 * unacknowledged records are evicted to make room (recent data matters most), never the ones
 * being appended; what was evicted is counted per monitor (`evictions`). `next` hands out each
 * unacked record once until `rewind` (after a reconnect) makes every unacked record due again;
 * after a rewind `next` alternates between that backlog (oldest first) and records appended since
 * (live), so a long backlog does not hold back fresh results. An ack for a sequence number that is
 * unknown, repeated or evicted is ignored.
 */
export interface SpoolRecord<T> {
  seq: number;
  data: T;
}

export interface SpoolStats {
  /** Records appended but not yet acknowledged (nor evicted). */
  backlog: number;
  /** Bytes the backlog occupies (disk spool: segment files). */
  bytes: number;
  /** Records handed out by `next` and not yet acknowledged. */
  inFlight: number;
  nextSeq: number;
  /** Epoch ms of the oldest unacknowledged record's `time` (per `describe`); null when empty or not described. */
  oldestTime: number | null;
}

/** Results of one monitor evicted from a full spool: every one of its records from `from` to `to` (ISO, inclusive). */
export interface EvictedRange {
  monitor_id: number;
  from: string;
  to: string;
  count: number;
}

/** Since the spool was created (the disk spool keeps it across restarts). Shaped as AgentHealth.spool_evicted. */
export interface SpoolEvictions {
  records: number;
  /** At most MAX_LOST_RANGES, by monitor then time. */
  ranges: EvictedRange[];
  /** Ranges dropped from `ranges` to stay within the limit (the least recently extended go first). */
  ranges_omitted: number;
}

/** Who a record is about, for eviction accounting: a positive integer monitor id and an epoch-ms time. */
export type DescribeRecord<T> = (data: T) => { monitor_id: number; time: number };

export interface Spool<T> {
  append(items: T[]): Promise<number[]>;
  next(max: number): Promise<SpoolRecord<T>[]>;
  ack(seqs: number[]): Promise<void>;
  rewind(): void;
  stats(): SpoolStats;
  evictions(): SpoolEvictions;
  close(): Promise<void>;
}

/** One append is larger than the whole cap: nothing could make room for it, so it is refused. */
export class SpoolFullError extends Error {
  override readonly name = 'SpoolFullError';
  constructor(capBytes: number, bytes: number) {
    super(
      `${bytes} bytes of results cannot fit in the result spool, whose cap is ${capBytes} bytes; they were not spooled`,
    );
  }
}

/** Latest time `describe` may return: ISO 8601 without an expanded year. */
const MAX_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Calls `describe` and checks what it returns; a record that cannot be described is refused. */
export function describeChecked<T>(
  describe: DescribeRecord<T> | undefined,
  data: T,
): { monitor: number; time: number } {
  if (!describe) return { monitor: 0, time: Number.NaN };
  const d = describe(data);
  if (!Number.isInteger(d.monitor_id) || d.monitor_id <= 0 || d.monitor_id > 0xffffffff)
    throw new TypeError(
      `a spooled record must name a monitor id (a positive 32-bit integer), got ${String(d.monitor_id)}`,
    );
  if (!Number.isFinite(d.time) || d.time < 0 || d.time > MAX_TIME)
    throw new TypeError(`a spooled record must carry a time (epoch ms, year 1970-9999), got ${String(d.time)}`);
  return { monitor: d.monitor_id, time: d.time };
}

/** The describe for the agent's results (`{ monitor_id, time: ISO }`, SpooledResult). */
export function describeResult(r: { monitor_id: number; time: string }): { monitor_id: number; time: number } {
  return { monitor_id: r.monitor_id, time: Date.parse(r.time) };
}

/**
 * The order both spools hand records out in after a rewind: half a batch from one side, the rest
 * from the other, and whatever one side cannot fill goes to the other; interleaved. The caller
 * alternates `backlogFirst` from call to call so that batches of one still alternate.
 */
export function interleave<R>(
  max: number,
  backlogFirst: boolean,
  takeBacklog: (n: number) => R[],
  takeLive: (n: number) => R[],
): R[] {
  if (max <= 0) return [];
  const [takeA, takeB] = backlogFirst ? [takeBacklog, takeLive] : [takeLive, takeBacklog];
  const a = takeA(Math.ceil(max / 2));
  const b = takeB(max - a.length);
  if (a.length + b.length < max) a.push(...takeA(max - a.length - b.length));
  const out: R[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length) out.push(a[i]!);
    if (i < b.length) out.push(b[i]!);
  }
  return out;
}

/**
 * A spool's `take`: appends to `out` up to `max` unacknowledged records from `cursor` on, below
 * `limit`, marking them in flight; returns the cursor after the last record it looked at.
 */
export type TakeRecords<T> = (cursor: number, limit: number, max: number, out: SpoolRecord<T>[]) => number;

/**
 * The read side both spools share. The backlog is what was there at the last rewind, from the
 * oldest record up to the then next sequence number, oldest first; live is what was appended since.
 * `next` interleaves the two (see interleave); `rewind` makes every unacknowledged record due again.
 */
export function sendOrder<T>(take: TakeRecords<T>, oldest: number, nextSeq: number) {
  // Backlog: [backCursor, backEnd); live: from liveCursor.
  let backCursor = oldest;
  let backEnd = nextSeq;
  let liveCursor = nextSeq;
  let backlogFirst = true;
  return {
    next(max: number): SpoolRecord<T>[] {
      const out = interleave(
        max,
        backlogFirst,
        (n) => {
          const got: SpoolRecord<T>[] = [];
          backCursor = take(backCursor, backEnd, n, got);
          return got;
        },
        (n) => {
          const got: SpoolRecord<T>[] = [];
          liveCursor = take(liveCursor, Number.POSITIVE_INFINITY, n, got);
          return got;
        },
      );
      backlogFirst = !backlogFirst;
      return out;
    },
    rewind(oldestNow: number, nextSeqNow: number): void {
      backCursor = oldestNow;
      backEnd = nextSeqNow;
      liveCursor = nextSeqNow;
    },
  };
}
