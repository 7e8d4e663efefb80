/**
 * What the disk spool keeps in memory about one segment file: per record whether it was
 * acknowledged and, for eviction accounting, its monitor, time and the same monitor's next record
 * (17 bytes a record; the records themselves are read back from the file when needed).
 */
export interface Segment {
  first: number;
  /** One past the last seq written. */
  end: number;
  path: string;
  bytes: number;
  /** acked[seq - first] = 1 once acknowledged. */
  acked: Uint8Array;
  unacked: number;
  /** 0: not described. */
  monitor: Uint32Array;
  time: Float64Array;
  /** The same monitor's next record as seq - this seq; NEXT_DELTA_NONE / NEXT_DELTA_UNKNOWN. */
  nextDelta: Uint32Array;
  /** Earliest `time` of an unacknowledged record (NaN: none); recomputed when `minDirty`. */
  minTime: number;
  minDirty: boolean;
}

export const NEXT_DELTA_NONE = 0;
export const NEXT_DELTA_UNKNOWN = 0xffffffff;

export function newSegment(first: number, path: string, capacity: number): Segment {
  const n = Math.max(1, capacity);
  return {
    first,
    end: first,
    path,
    bytes: 0,
    acked: new Uint8Array(n),
    unacked: 0,
    monitor: new Uint32Array(n),
    time: new Float64Array(n).fill(Number.NaN),
    nextDelta: new Uint32Array(n),
    minTime: Number.NaN,
    minDirty: false,
  };
}

/** Makes room for `count` records in all per-record arrays. */
export function growSegment(seg: Segment, count: number): void {
  if (seg.acked.length >= count) return;
  const n = Math.max(seg.acked.length * 2, count);
  const grow = <A extends Uint8Array | Uint32Array | Float64Array>(a: A, make: (n: number) => A): A => {
    const b = make(n);
    b.set(a as never);
    return b;
  };
  seg.acked = grow(seg.acked, (k) => new Uint8Array(k));
  seg.monitor = grow(seg.monitor, (k) => new Uint32Array(k));
  seg.nextDelta = grow(seg.nextDelta, (k) => new Uint32Array(k));
  const time = new Float64Array(n).fill(Number.NaN);
  time.set(seg.time);
  seg.time = time;
}

/** Stores a record's description at its position and keeps `minTime` current. */
export function describeAt(seg: Segment, idx: number, monitor: number, time: number, nextDelta: number): void {
  seg.monitor[idx] = monitor;
  seg.time[idx] = time;
  seg.nextDelta[idx] = nextDelta;
  if (!seg.minDirty && Number.isFinite(time) && !(time >= seg.minTime)) seg.minTime = time;
}

export function setNext(seg: Segment, seq: number, next: number): void {
  const delta = next - seq;
  seg.nextDelta[seq - seg.first] = delta > 0 && delta < NEXT_DELTA_UNKNOWN ? delta : NEXT_DELTA_UNKNOWN;
}

/** The same monitor's next record: a seq, NEXT_NONE (0) or NEXT_UNKNOWN (-1), as EvictionLog takes it. */
export function nextOf(seg: Segment, seq: number): number {
  const d = seg.nextDelta[seq - seg.first]!;
  return d === NEXT_DELTA_NONE ? 0 : d === NEXT_DELTA_UNKNOWN ? -1 : seq + d;
}

export function oldestTimeOf(seg: Segment): number {
  if (seg.minDirty) {
    let min = Number.NaN;
    for (let i = 0; i < seg.end - seg.first; i++) {
      const t = seg.time[i]!;
      if (!seg.acked[i] && Number.isFinite(t) && !(t >= min)) min = t;
    }
    seg.minTime = min;
    seg.minDirty = false;
  }
  return seg.minTime;
}

/** The segment holding `seq` (segments sorted by `first`, not overlapping), or undefined. */
export function findSegment(segments: Segment[], seq: number): Segment | undefined {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const g = segments[mid]!;
    if (seq < g.first) hi = mid - 1;
    else if (seq >= g.end) lo = mid + 1;
    else return g;
  }
  return undefined;
}

/** Index of the first segment that ends after `seq`. */
export function firstSegmentAfter(segments: readonly { end: number }[], seq: number): number {
  let lo = 0;
  let hi = segments.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (segments[mid]!.end <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
