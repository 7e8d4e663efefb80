import { EvictionLog, NEXT_NONE } from './eviction-log.ts';
import {
  SpoolFullError,
  describeChecked,
  sendOrder,
  type DescribeRecord,
  type Spool,
  type SpoolRecord,
} from './spool.ts';

export interface MemorySpoolOptions<T> {
  /** Past this many bytes (JSON) the oldest records are evicted. */
  capBytes?: number;
  firstSeq?: number;
  /** Names each record's monitor and time, for eviction ranges and `oldestTime`. */
  describe?: DescribeRecord<T>;
  maxRanges?: number;
}

interface Held<T> {
  data: T;
  bytes: number;
  monitor: number;
  time: number;
  /** The same monitor's next record (NEXT_NONE: none yet). */
  next: number;
}

/** A spool in memory: for tests and for `collect`-style one-shot use. Loses everything on exit. */
export function createMemorySpool<T>(opts: MemorySpoolOptions<T> = {}): Spool<T> {
  // Insertion order is sequence order: the first entry is the oldest record.
  const records = new Map<number, Held<T>>();
  const evictions = new EvictionLog(opts.maxRanges);
  let nextSeq = opts.firstSeq ?? 1;
  const order = sendOrder(take, nextSeq, nextSeq);
  let bytes = 0;
  const sent = new Set<number>();
  const link = (prev: number, next: number): void => {
    const r = records.get(prev);
    if (r) r.next = next;
  };

  function evictOldest(): void {
    const [seq, r] = records.entries().next().value as [number, Held<T>];
    records.delete(seq);
    sent.delete(seq);
    bytes -= r.bytes;
    evictions.evicted(r.monitor, seq, r.time, r.next);
  }

  function take(cursor: number, limit: number, max: number, out: SpoolRecord<T>[]): number {
    const oldest = records.keys().next().value;
    if (oldest === undefined) return Math.max(cursor, Math.min(limit, nextSeq));
    if (cursor < oldest) cursor = oldest;
    const stop = Math.min(limit, nextSeq);
    while (out.length < max && cursor < stop) {
      const r = records.get(cursor);
      if (r) {
        out.push({ seq: cursor, data: r.data });
        sent.add(cursor);
      }
      cursor++;
    }
    return cursor;
  }

  return {
    async append(items) {
      const described = items.map((d) => describeChecked(opts.describe, d));
      const sizes = items.map((d) => Buffer.byteLength(JSON.stringify(d)));
      const add = sizes.reduce((a, b) => a + b, 0);
      if (opts.capBytes !== undefined) {
        if (add > opts.capBytes) throw new SpoolFullError(opts.capBytes, add);
        while (bytes + add > opts.capBytes) evictOldest();
      }
      return items.map((data, i) => {
        const seq = nextSeq++;
        const { monitor, time } = described[i]!;
        records.set(seq, { data, bytes: sizes[i]!, monitor, time, next: NEXT_NONE });
        evictions.appended(monitor, seq, link);
        bytes += sizes[i]!;
        return seq;
      });
    },
    next: async (max) => order.next(max),
    async ack(seqs) {
      for (const s of seqs) {
        const r = records.get(s);
        if (!r) continue;
        records.delete(s);
        sent.delete(s);
        bytes -= r.bytes;
        evictions.left(r.monitor, s);
      }
    },
    rewind() {
      sent.clear();
      order.rewind(records.keys().next().value ?? nextSeq, nextSeq);
    },
    stats: () => {
      let oldestTime: number | null = null;
      for (const r of records.values())
        if (Number.isFinite(r.time) && (oldestTime === null || r.time < oldestTime)) oldestTime = r.time;
      return { backlog: records.size, bytes, inFlight: sent.size, nextSeq, oldestTime };
    },
    evictions: () => evictions.report(),
    async close() {},
  };
}
