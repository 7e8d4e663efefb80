import {
  mkdirSync,
  readFileSync,
  readdirSync,
  writeFileSync,
  renameSync,
  openSync,
  closeSync,
  ftruncateSync,
  statSync,
  unlinkSync,
  fsyncSync,
  writeSync,
  appendFileSync,
  chmodSync,
} from 'node:fs';
import { join } from 'node:path';
import { decodeRecords, encodeRecord } from './segment-file.ts';
import { NEXT_NONE, writeEvictionFile } from './eviction-log.ts';
import { pruneGone, recoverSpool, segName, writeGone } from './recover-spool.ts';
import {
  type Segment,
  newSegment,
  growSegment,
  describeAt,
  setNext,
  nextOf,
  oldestTimeOf,
  findSegment,
  firstSegmentAfter,
} from './segment.ts';
import {
  SpoolFullError,
  describeChecked,
  sendOrder,
  type DescribeRecord,
  type Spool,
  type SpoolRecord,
} from './spool.ts';

export interface DiskSpoolOptions<T> {
  dir: string;
  /** Past this many bytes of segments the oldest segments are evicted (whole). */
  capBytes: number;
  /** A segment is closed and a new one started past this size (at most a quarter of the cap). */
  segmentBytes?: number;
  /** Appends arriving within this window share one write + fsync. */
  flushMs?: number;
  /** Names each record's monitor and time, for eviction ranges and `oldestTime`. */
  describe?: DescribeRecord<T>;
  /** Lost ranges kept (default MAX_LOST_RANGES). */
  maxRanges?: number;
}

/**
 * The spool holds results (host names, metrics): owner-only. `mode` applies only when a file is
 * created, so files an older version left (acks.log was 0644) and the folder are tightened at open.
 */
function restrictModes(dir: string): void {
  chmodSync(dir, 0o700);
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isFile()) chmodSync(join(dir, e.name), 0o600);
}

/** Closed segments whose records stay parsed in memory (beyond that they are read back from disk when sent). */
const LOADED_CLOSED_SEGMENTS = 2;
const HEADER_BYTES = 12;

interface Pending<T> {
  buf: Buffer;
  data: T;
  seq: number;
  monitor: number;
  time: number;
  next: number;
}

/**
 * Append-only segment files with batched fsync. Acks are appended to `acks.log` without fsync:
 * after a crash an acked record may be sent again, which the server's idempotent write absorbs,
 * but an unacked record is never lost unless evicted. Fully acked segments are deleted; at the cap
 * the oldest segment goes whole, its unacked records counted in `evicted.json` (written before the
 * segment is deleted, so a restart neither forgets nor double-counts them).
 */
export function openDiskSpool<T>(o: DiskSpoolOptions<T>): Spool<T> {
  if (!Number.isSafeInteger(o.capBytes) || o.capBytes < 4096)
    throw new RangeError(`the spool's cap must be at least 4096 bytes, got ${o.capBytes}`);
  // Eviction frees a whole segment: keep several within the cap.
  const segmentBytes = Math.max(1024, Math.min(o.segmentBytes ?? 8 * 1024 * 1024, Math.floor(o.capBytes / 4)));
  const flushMs = o.flushMs ?? 5;
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  restrictModes(o.dir);
  const metaPath = join(o.dir, 'meta.json');
  const acksPath = join(o.dir, 'acks.log');
  const evictedPath = join(o.dir, 'evicted.json');

  const recovered = recoverSpool(o.dir, o.describe, o.maxRanges);
  const segments = recovered.segments;
  const evictions = recovered.evictions;
  const gone = recovered.gone;
  let nextSeq = recovered.nextSeq;
  writeFileSync(acksPath, recovered.acked.length ? `${recovered.acked.join('\n')}\n` : '', { mode: 0o600 });
  persistMeta();
  if (evictions.records) persistEvictions();

  /** Parsed records of closed segments, least recently used first. */
  const loaded = new Map<number, T[]>();
  let active: { seg: Segment; fd: number; records: T[] } | undefined;
  let totalBytes = segments.reduce((n, s) => n + s.bytes, 0);
  const order = sendOrder(take, segments[0]?.first ?? nextSeq, nextSeq);
  const inFlight = new Set<number>();
  let pending: Pending<T>[] = [];
  let flushWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  let flushTimer: NodeJS.Timeout | undefined;
  let closed = false;

  function persistMeta(): void {
    const tmp = `${metaPath}.tmp`;
    writeFileSync(tmp, JSON.stringify({ next_seq: nextSeq }), { mode: 0o600 });
    renameSync(tmp, metaPath);
  }

  function persistEvictions(): void {
    writeEvictionFile(evictedPath, evictions.toFile(nextSeq));
    evictions.dirty = false;
  }

  /** Tells record `prev` (on disk or waiting for its flush) that `next` is its monitor's next record. */
  function link(prev: number, next: number): void {
    const seg = findSegment(segments, prev);
    if (seg) return setNext(seg, prev, next);
    const p = pending[prev - (pending[0]?.seq ?? 0)];
    if (p?.seq === prev) p.next = next;
  }

  function trimLoaded(): void {
    for (const k of loaded.keys()) if (loaded.size > LOADED_CLOSED_SEGMENTS) loaded.delete(k);
  }

  function openActive(first: number): NonNullable<typeof active> {
    const path = join(o.dir, segName(first));
    const fd = openSync(path, 'a', 0o600);
    const seg = newSegment(first, path, 1024);
    segments.push(seg);
    active = { seg, fd, records: [] };
    persistMeta();
    return active;
  }

  /** The segment being written is full (or cannot take the next seq): it joins the closed ones. */
  function closeActive(): void {
    if (!active) return;
    closeSync(active.fd);
    loaded.set(active.seg.first, active.records);
    active = undefined;
    trimLoaded();
  }

  /** Writes all of `buf` (a regular file may take it in more than one write) and fsyncs it. */
  function writeFully(fd: number, buf: Buffer): void {
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  }

  /**
   * A write failed (disk full, I/O error): cut the segment back to its last complete record and
   * retire it, so the next append starts a new segment at its own sequence number. A segment's
   * records are found by position, so nothing may follow a gap inside one.
   */
  function abandonActive(a: NonNullable<typeof active>): void {
    try {
      ftruncateSync(a.fd, a.seg.bytes);
    } catch {
      /* the file cannot be cut (not a regular file); its records are re-read by length on open */
    }
    closeActive();
    // Nothing in it left to send (empty, or every record acknowledged already): it goes now, as
    // no later ack would free it.
    if (a.seg.unacked === 0) {
      dropSegment(a.seg);
      rewriteAcks();
    }
  }

  function flush(): void {
    flushTimer = undefined;
    const batch = pending;
    const waiters = flushWaiters;
    pending = [];
    flushWaiters = [];
    let i = 0;
    try {
      while (i < batch.length) {
        if (active && (active.seg.bytes >= segmentBytes || active.seg.end !== batch[i]!.seq)) closeActive();
        const a = active ?? openActive(batch[i]!.seq);
        const chunk: Buffer[] = [];
        let size = 0;
        let j = i;
        while (
          j < batch.length &&
          batch[j]!.seq === a.seg.end + (j - i) &&
          (size === 0 || a.seg.bytes + size < segmentBytes)
        ) {
          chunk.push(batch[j]!.buf);
          size += batch[j]!.buf.length;
          j++;
        }
        try {
          writeFully(a.fd, Buffer.concat(chunk));
        } catch (err) {
          abandonActive(a);
          throw err;
        }
        // Only records that are on disk are known to the segment.
        const seg = a.seg;
        growSegment(seg, seg.end - seg.first + (j - i));
        for (let k = i; k < j; k++) {
          const p = batch[k]!;
          a.records.push(p.data);
          describeAt(seg, p.seq - seg.first, p.monitor, p.time, 0);
          if (p.next !== NEXT_NONE) setNext(seg, p.seq, p.next);
        }
        seg.end += j - i;
        seg.unacked += j - i;
        seg.bytes += size;
        i = j;
        if (seg.bytes >= segmentBytes) closeActive();
      }
      for (const w of waiters) w.resolve();
    } catch (err) {
      // Records not written are not in the spool: their bytes no longer count against the cap,
      // and every append of this flush hears of the failure (some of its records may be stored:
      // sending one twice is harmless, the server keeps one row per monitor and time).
      for (let k = i; k < batch.length; k++) {
        totalBytes -= batch[k]!.buf.length;
        evictions.left(batch[k]!.monitor, batch[k]!.seq);
      }
      for (const w of waiters) w.reject(err);
    }
    if (evictions.dirty) {
      try {
        persistEvictions();
      } catch {
        /* still dirty: tried again with the next flush */
      }
    }
  }

  function recordsOf(seg: Segment): T[] {
    if (active?.seg === seg) return active.records;
    let recs = loaded.get(seg.first);
    if (recs) loaded.delete(seg.first);
    else
      recs = decodeRecords(readFileSync(seg.path), seg.first).records.map(
        (r) => JSON.parse(r.payload.toString('utf8')) as T,
      );
    loaded.set(seg.first, recs);
    trimLoaded();
    return recs;
  }

  /** acks.log keeps only acknowledgements of records still on disk (it would grow forever). */
  function rewriteAcks(): void {
    const lines: number[] = [];
    for (const g of segments) for (let k = 0; k < g.end - g.first; k++) if (g.acked[k]) lines.push(g.first + k);
    const tmp = `${acksPath}.tmp`;
    writeFileSync(tmp, lines.length ? `${lines.join('\n')}\n` : '', { mode: 0o600 });
    renameSync(tmp, acksPath);
  }

  function forget(seg: Segment): void {
    if (active?.seg === seg) {
      closeSync(active.fd);
      active = undefined;
    }
    loaded.delete(seg.first);
    segments.splice(segments.indexOf(seg), 1);
    totalBytes -= seg.bytes;
  }

  function oldestSeq(): number {
    return segments[0]?.first ?? pending[0]?.seq ?? nextSeq;
  }

  /** A fully acknowledged segment goes; if older ones remain, a gone file keeps which monitors it held. */
  function dropSegment(seg: Segment): void {
    const hole = segments[0] !== seg;
    forget(seg);
    if (hole && o.describe) {
      try {
        gone.push(writeGone(o.dir, seg));
      } catch {
        /* without it a restart treats the hole as unknown: ranges across it are split, never merged */
      }
    }
    unlinkSync(seg.path);
    persistMeta();
    pruneGone(gone, oldestSeq());
  }

  /** Evicts the oldest records until `add` more bytes fit: whole segments, then records waiting for their flush. */
  function makeRoom(add: number): void {
    const victims: Segment[] = [];
    while (totalBytes + add > o.capBytes && segments.length) {
      const seg = segments[0]!;
      for (let k = 0; k < seg.end - seg.first; k++) {
        if (seg.acked[k]) continue;
        const seq = seg.first + k;
        inFlight.delete(seq);
        evictions.evicted(seg.monitor[k]!, seq, seg.time[k]!, nextOf(seg, seq));
      }
      forget(seg);
      victims.push(seg);
    }
    while (totalBytes + add > o.capBytes && pending.length) {
      const p = pending.shift()!;
      totalBytes -= p.buf.length;
      evictions.evicted(p.monitor, p.seq, p.time, p.next);
    }
    evictions.evictedBelow = Math.max(evictions.evictedBelow, oldestSeq());
    try {
      persistEvictions();
    } catch {
      /* the disk is full or failing: the cap still holds; a restart before the next write under-reports */
    }
    for (const v of victims) unlinkSync(v.path);
    if (victims.length) {
      rewriteAcks();
      persistMeta();
      pruneGone(gone, oldestSeq());
    }
  }

  function take(cursor: number, limit: number, max: number, out: SpoolRecord<T>[]): number {
    for (let i = firstSegmentAfter(segments, cursor); i < segments.length && out.length < max; i++) {
      const seg = segments[i]!;
      if (cursor < seg.first) cursor = seg.first;
      if (cursor >= limit) break;
      const stop = Math.min(seg.end, limit);
      const recs = recordsOf(seg);
      while (out.length < max && cursor < stop) {
        const idx = cursor - seg.first;
        if (!seg.acked[idx]) {
          out.push({ seq: cursor, data: recs[idx]! });
          inFlight.add(cursor);
        }
        cursor++;
      }
    }
    return cursor;
  }

  return {
    async append(items) {
      if (closed) throw new Error('the spool is closed');
      if (!items.length) return [];
      const described = items.map((d) => describeChecked(o.describe, d));
      const encoded = items.map((data) => Buffer.from(JSON.stringify(data)));
      const add = encoded.reduce((n, b) => n + b.length + HEADER_BYTES, 0);
      if (add > o.capBytes) throw new SpoolFullError(o.capBytes, add);
      if (totalBytes + add > o.capBytes) makeRoom(add);
      const seqs = items.map((data, i) => {
        const seq = nextSeq++;
        const { monitor, time } = described[i]!;
        pending.push({ buf: encodeRecord(seq, encoded[i]!), data, seq, monitor, time, next: NEXT_NONE });
        evictions.appended(monitor, seq, link);
        return seq;
      });
      totalBytes += add;
      await new Promise<void>((resolve, reject) => {
        flushWaiters.push({ resolve, reject });
        flushTimer ??= setTimeout(flush, flushMs);
      });
      return seqs;
    },
    next: async (max) => order.next(max),
    async ack(seqs) {
      const lines: string[] = [];
      let dropped = false;
      for (const s of seqs) {
        const seg = findSegment(segments, s);
        if (!seg) continue;
        const idx = s - seg.first;
        if (seg.acked[idx]) continue;
        seg.acked[idx] = 1;
        seg.unacked--;
        if (!(seg.time[idx]! > seg.minTime)) seg.minDirty = true;
        inFlight.delete(s);
        evictions.left(seg.monitor[idx]!, s);
        lines.push(String(s));
        // Fully acknowledged, a closed segment goes (the one being written closes at segmentBytes,
        // at most a quarter of the cap, and goes then).
        if (seg.unacked === 0 && seg !== active?.seg) {
          dropSegment(seg);
          dropped = true;
        }
      }
      if (lines.length) appendFileSync(acksPath, `${lines.join('\n')}\n`, { mode: 0o600 });
      if (dropped) rewriteAcks();
    },
    rewind() {
      inFlight.clear();
      // Records still waiting for their flush come before nextSeq: start at the oldest of all.
      order.rewind(Math.min(segments[0]?.first ?? nextSeq, pending[0]?.seq ?? nextSeq), nextSeq);
    },
    stats: () => {
      let min = Number.NaN;
      for (const g of segments) {
        const t = oldestTimeOf(g);
        if (Number.isFinite(t) && !(t >= min)) min = t;
      }
      for (const p of pending) if (Number.isFinite(p.time) && !(p.time >= min)) min = p.time;
      return {
        backlog: segments.reduce((n, s) => n + s.unacked, 0) + pending.length,
        bytes: totalBytes,
        inFlight: inFlight.size,
        nextSeq,
        oldestTime: Number.isFinite(min) ? min : null,
      };
    },
    evictions: () => evictions.report(),
    async close() {
      if (closed) return;
      if (flushTimer) {
        clearTimeout(flushTimer);
        flush();
      }
      closed = true;
      if (active) closeSync(active.fd);
      active = undefined;
      persistMeta();
      if (evictions.dirty) persistEvictions();
      try {
        chmodSync(o.dir, 0o700);
        statSync(o.dir);
      } catch {
        /* best effort */
      }
    },
  };
}
