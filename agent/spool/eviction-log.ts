import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { MAX_LOST_RANGES } from '../../shared/protocol/agent-messages.ts';
import { writeFileAtomicSync } from '../atomic-file.ts';
import type { EvictedRange, SpoolEvictions } from './spool.ts';

/** `next` of a record whose successor (the same monitor's next record) cannot be known any more. */
export const NEXT_UNKNOWN = -1;
/** `next` of a record whose monitor has not appended anything after it yet. */
export const NEXT_NONE = 0;

const MAX_SEQ = 2 ** 53;
/**
 * Ranges dropped from the list but still open (their monitor is still losing records), kept so
 * that each stays one range: one per monitor, so this many monitors losing at once (~100 bytes each).
 */
export const MAX_OPEN_UNLISTED = 50_000;

const RangeOnDisk = z.object({
  monitor_id: z.number().int().positive().max(0xffffffff),
  from: z.number().finite(),
  to: z.number().finite(),
  count: z.number().int().positive(),
  /** Open: the next eviction of this monitor extends it if it is record `next_seq`. */
  open: z.boolean(),
  /** Reported (false: counted in ranges_omitted, kept only to absorb its monitor's next evictions). */
  listed: z.boolean().default(true),
  next_seq: z.number().int().nonnegative().max(MAX_SEQ).nullable(),
});

/** `evicted.json` in a disk spool's directory. */
export const EvictionFile = z.object({
  version: z.literal(1),
  records: z.number().int().nonnegative(),
  ranges_omitted: z.number().int().nonnegative(),
  /** Every record below this sequence number has been evicted or acknowledged already. */
  evicted_below: z.number().int().positive().max(MAX_SEQ),
  /** The spool's next_seq when this file was written (to know what was appended since). */
  next_seq: z.number().int().positive().max(MAX_SEQ),
  /** Oldest first; at most the listed limit plus as many open unlisted ones. */
  ranges: z.array(RangeOnDisk).max(MAX_LOST_RANGES + MAX_OPEN_UNLISTED),
});
export type EvictionFile = z.infer<typeof EvictionFile>;

interface Range {
  monitor_id: number;
  from: number;
  to: number;
  count: number;
  /** The record that would continue this range: a sequence number, NEXT_NONE (not appended yet) or NEXT_UNKNOWN. */
  next: number;
  listed: boolean;
}

const iso = (t: number) => new Date(t).toISOString();

/**
 * Which results a full spool evicted, per monitor, as exact time ranges. Two evictions of one
 * monitor share a range only when the second record is the very next record that monitor appended
 * after the first: nothing of that monitor in between was delivered. The spool tells it, per
 * monitor, each record appended (so the previous one learns its successor), each record that leaves
 * (acknowledged or unwritten) and each record evicted with its successor.
 *
 * Bounded: at most `maxRanges` ranges are listed; past that the oldest one is dropped from the
 * list and counted in `ranges_omitted`. While still open it goes on absorbing its monitor's
 * evictions unlisted (at most MAX_OPEN_UNLISTED such), so a long loss stays one range, not hundreds.
 * Monitor 0 means "not described": counted, no range.
 */
export class EvictionLog {
  records = 0;
  rangesOmitted = 0;
  evictedBelow = 1;
  /** Set when something a restart must know changed since the last `toFile`. */
  dirty = false;
  /** Listed ranges, oldest first. */
  private readonly ranges = new Set<Range>();
  /** Per monitor: its latest range (listed or not), while it may still be extended. */
  private readonly open = new Map<number, Range>();
  private openUnlisted = 0;
  /** Per monitor: the sequence number of its newest record still in the spool. */
  private readonly newest = new Map<number, number>();

  constructor(private readonly maxRanges = MAX_LOST_RANGES) {
    if (!Number.isInteger(maxRanges) || maxRanges < 1 || maxRanges > MAX_LOST_RANGES)
      throw new RangeError(
        `maxRanges must be an integer from 1 to ${MAX_LOST_RANGES} (the protocol's limit), got ${maxRanges}`,
      );
  }

  /** A record was appended; `link(prev, seq)` tells the spool's record `prev` its successor. */
  appended(monitor: number, seq: number, link: (prev: number, next: number) => void): void {
    if (!monitor) return;
    const prev = this.newest.get(monitor);
    if (prev !== undefined) link(prev, seq);
    else {
      const r = this.open.get(monitor);
      if (r && r.next === NEXT_NONE) {
        r.next = seq;
        this.dirty = true;
      }
    }
    this.newest.set(monitor, seq);
  }

  /** On reopen: `seq` is the newest record of `monitor` still in the spool and its successor is not known yet. */
  restoreNewest(monitor: number, seq: number): void {
    if (monitor) this.newest.set(monitor, seq);
  }

  /** A record left the spool without being evicted (acknowledged, or its write failed). */
  left(monitor: number, seq: number): void {
    if (monitor && this.newest.get(monitor) === seq) this.newest.delete(monitor);
  }

  /** Records to be evicted must be passed oldest first; `next` is the record's successor as the spool knows it. */
  evicted(monitor: number, seq: number, time: number, next: number): void {
    this.records++;
    this.dirty = true;
    if (!monitor) return;
    if (this.newest.get(monitor) === seq) this.newest.delete(monitor);
    const r = this.open.get(monitor);
    if (r && r.next === seq && Number.isFinite(time)) {
      r.to = time;
      r.count++;
      r.next = next;
    } else if (Number.isFinite(time)) {
      this.close(monitor);
      const fresh: Range = { monitor_id: monitor, from: time, to: time, count: 1, next, listed: true };
      this.ranges.add(fresh);
      this.open.set(monitor, fresh);
      this.trim();
    } else this.close(monitor);
    if (this.open.get(monitor)?.next === NEXT_UNKNOWN) this.close(monitor);
  }

  private close(monitor: number): void {
    const r = this.open.get(monitor);
    if (!r) return;
    this.open.delete(monitor);
    if (!r.listed) this.openUnlisted--;
  }

  private trim(): void {
    while (this.ranges.size > this.maxRanges) {
      const oldest = this.ranges.values().next().value!;
      this.ranges.delete(oldest);
      oldest.listed = false;
      this.rangesOmitted++;
      if (this.open.get(oldest.monitor_id) === oldest) this.openUnlisted++;
    }
    if (this.openUnlisted <= MAX_OPEN_UNLISTED) return;
    for (const r of this.open.values()) {
      if (r.listed) continue;
      this.close(r.monitor_id);
      if (this.openUnlisted <= MAX_OPEN_UNLISTED) return;
    }
  }

  report(): SpoolEvictions {
    const ranges: EvictedRange[] = [...this.ranges]
      .sort((a, b) => a.monitor_id - b.monitor_id || a.from - b.from)
      .map((r) => ({ monitor_id: r.monitor_id, from: iso(r.from), to: iso(r.to), count: r.count }));
    return { records: this.records, ranges, ranges_omitted: this.rangesOmitted };
  }

  /** Open ranges waiting for a record not appended yet (NEXT_NONE): resolved by `resolve` on reopen. */
  openWaiting(): { monitor: number; resolve: (next: number) => void }[] {
    return [...this.open.values()]
      .filter((r) => r.next === NEXT_NONE)
      .map((r) => ({
        monitor: r.monitor_id,
        resolve: (next: number) => {
          r.next = next;
          if (next === NEXT_UNKNOWN) this.close(r.monitor_id);
        },
      }));
  }

  toFile(nextSeq: number): EvictionFile {
    return {
      version: 1,
      records: this.records,
      ranges_omitted: this.rangesOmitted,
      evicted_below: this.evictedBelow,
      next_seq: nextSeq,
      ranges: [...[...this.open.values()].filter((r) => !r.listed), ...this.ranges].map((r) => {
        const open = this.open.get(r.monitor_id) === r;
        return {
          monitor_id: r.monitor_id,
          from: r.from,
          to: r.to,
          count: r.count,
          open,
          listed: r.listed,
          next_seq: open && r.next > 0 ? r.next : null,
        };
      }),
    };
  }

  static fromFile(f: EvictionFile, maxRanges = MAX_LOST_RANGES): EvictionLog {
    const log = new EvictionLog(maxRanges);
    log.records = f.records;
    log.rangesOmitted = f.ranges_omitted;
    log.evictedBelow = f.evicted_below;
    for (const d of f.ranges) {
      const r: Range = {
        monitor_id: d.monitor_id,
        from: d.from,
        to: d.to,
        count: d.count,
        next: d.next_seq ?? NEXT_NONE,
        listed: d.listed,
      };
      if (r.listed) log.ranges.add(r);
      if (d.open && !log.open.has(r.monitor_id)) {
        log.open.set(d.monitor_id, r);
        if (!r.listed) log.openUnlisted++;
      }
    }
    log.trim();
    return log;
  }
}

/** Reads `evicted.json`; undefined when there is none; throws (naming the file) when it is damaged. */
export function readEvictionFile(path: string): EvictionFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${path} is not valid JSON`);
  }
  const parsed = EvictionFile.safeParse(json);
  if (!parsed.success)
    throw new Error(`${path} is damaged: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** Replaced atomically (temporary file, fsync, rename): a crash leaves the old file or the new one. */
export function writeEvictionFile(path: string, f: EvictionFile): void {
  writeFileAtomicSync(path, JSON.stringify(f));
}

export const NO_EVICTIONS: SpoolEvictions = Object.freeze({
  records: 0,
  ranges: [],
  ranges_omitted: 0,
}) as SpoolEvictions;
