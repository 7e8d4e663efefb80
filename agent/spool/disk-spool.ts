import { mkdirSync, readdirSync, readFileSync, writeFileSync, renameSync, openSync, closeSync, ftruncateSync, statSync, unlinkSync, fsyncSync, writeSync, appendFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { decodeRecords, encodeRecord } from './segment-file.ts';
import { SpoolFullError, type Spool, type SpoolRecord } from './spool.ts';

export interface DiskSpoolOptions {
  dir: string;
  /** Refuse appends past this many bytes of unacknowledged segments. */
  capBytes: number;
  /** A segment is closed and a new one started past this size. */
  segmentBytes?: number;
  /** Appends arriving within this window share one write + fsync. */
  flushMs?: number;
}

interface Segment {
  first: number;
  /** One past the last seq written. */
  end: number;
  path: string;
  bytes: number;
  /** acked[seq - first] = 1 once acknowledged. */
  acked: Uint8Array;
  unacked: number;
}

const SEG_RE = /^seg-(\d{12})\.log$/;
const segName = (first: number) => `seg-${String(first).padStart(12, '0')}.log`;

/**
 * Append-only segment files with batched fsync. Acks are appended to `acks.log` without fsync:
 * after a crash an acked record may be sent again, which the server's idempotent write absorbs,
 * but an unacked record is never lost. Fully acked segments are deleted.
 */
export function openDiskSpool<T>(o: DiskSpoolOptions): Spool<T> {
  // A segment is freed only when all of it is acknowledged: keep several within the cap.
  const segmentBytes = Math.max(4096, Math.min(o.segmentBytes ?? 8 * 1024 * 1024, Math.floor(o.capBytes / 4)));
  const flushMs = o.flushMs ?? 5;
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const metaPath = join(o.dir, 'meta.json');
  const acksPath = join(o.dir, 'acks.log');

  let nextSeq = 1;
  try {
    nextSeq = Math.max(1, Number(JSON.parse(readFileSync(metaPath, 'utf8')).next_seq) || 1);
  } catch {
    /* first start */
  }
  const ackedOnDisk = new Set<number>();
  try {
    for (const line of readFileSync(acksPath, 'utf8').split('\n')) if (line) ackedOnDisk.add(Number(line));
  } catch {
    /* none yet */
  }

  const segments: Segment[] = [];
  const loaded = new Map<number, T[]>();
  for (const name of readdirSync(o.dir).filter((n) => SEG_RE.test(n)).sort()) {
    const path = join(o.dir, name);
    const buf = readFileSync(path);
    const { records, validBytes } = decodeRecords(buf);
    if (validBytes < buf.length) {
      const fd = openSync(path, 'r+');
      ftruncateSync(fd, validBytes);
      fsyncSync(fd);
      closeSync(fd);
    }
    const first = Number(SEG_RE.exec(name)![1]);
    const end = records.length ? records[records.length - 1]!.seq + 1 : first;
    const seg: Segment = { first, end, path, bytes: validBytes, acked: new Uint8Array(Math.max(1, end - first)), unacked: 0 };
    for (const r of records) {
      if (ackedOnDisk.has(r.seq)) seg.acked[r.seq - first] = 1;
      else seg.unacked++;
    }
    nextSeq = Math.max(nextSeq, end);
    if (seg.unacked === 0) unlinkSync(path);
    else segments.push(seg);
  }
  writeFileSync(acksPath, segments.length ? [...ackedOnDisk].filter((s) => segments.some((g) => s >= g.first && s < g.end)).join('\n') + '\n' : '');
  persistMeta();

  let active: { seg: Segment; fd: number; records: T[] } | undefined;
  let totalBytes = segments.reduce((n, s) => n + s.bytes, 0);
  let cursor = segments[0]?.first ?? nextSeq;
  const inFlight = new Set<number>();
  let pending: { buf: Buffer; data: T; seq: number }[] = [];
  let flushWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  let flushTimer: NodeJS.Timeout | undefined;
  let closed = false;

  function persistMeta(): void {
    const tmp = `${metaPath}.tmp`;
    writeFileSync(tmp, JSON.stringify({ next_seq: nextSeq }), { mode: 0o600 });
    renameSync(tmp, metaPath);
  }

  function openActive(first: number): NonNullable<typeof active> {
    const path = join(o.dir, segName(first));
    const fd = openSync(path, 'a', 0o600);
    const seg: Segment = { first, end: first, path, bytes: 0, acked: new Uint8Array(1024), unacked: 0 };
    segments.push(seg);
    active = { seg, fd, records: [] };
    loaded.set(first, active.records);
    persistMeta();
    return active;
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
    closeSync(a.fd);
    active = undefined;
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
        const a = active && active.seg.bytes < segmentBytes ? active : openActive(batch[i]!.seq);
        const chunk: Buffer[] = [];
        let size = 0;
        let j = i;
        while (j < batch.length && (size === 0 || a.seg.bytes + size < segmentBytes)) {
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
        for (let k = i; k < j; k++) a.records.push(batch[k]!.data);
        i = j;
        const added = chunk.length;
        a.seg.end += added;
        a.seg.unacked += added;
        if (a.seg.acked.length < a.seg.end - a.seg.first) {
          const grown = new Uint8Array(Math.max(a.seg.acked.length * 2, a.seg.end - a.seg.first));
          grown.set(a.seg.acked);
          a.seg.acked = grown;
        }
        a.seg.bytes += size;
        if (a.seg.bytes >= segmentBytes) {
          closeSync(a.fd);
          active = undefined;
          // Closed segments' records stay in memory only while few (the drain usually trails the
          // writes by less than a segment); beyond that they are read back from disk when sent,
          // so an outage does not keep the whole backlog in memory.
          for (const k of loaded.keys()) if (loaded.size > 2) loaded.delete(k);
        }
      }
      for (const w of waiters) w.resolve();
    } catch (err) {
      // Records not written are not in the spool: their bytes no longer count against the cap,
      // and every append of this flush hears of the failure (some of its records may be stored:
      // sending one twice is harmless, the server keeps one row per monitor and time).
      for (let k = i; k < batch.length; k++) totalBytes -= batch[k]!.buf.length;
      for (const w of waiters) w.reject(err);
    }
  }

  function recordsOf(seg: Segment): T[] {
    let recs = loaded.get(seg.first);
    if (!recs) {
      recs = decodeRecords(readFileSync(seg.path)).records.map((r) => JSON.parse(r.payload.toString('utf8')) as T);
      if (loaded.size > 2) for (const k of loaded.keys()) if (k !== active?.seg.first) loaded.delete(k);
      loaded.set(seg.first, recs);
    }
    return recs;
  }

  /** acks.log keeps only acknowledgements of records still on disk (it would grow forever). */
  function rewriteAcks(): void {
    const lines: number[] = [];
    for (const g of segments) for (let k = 0; k < g.end - g.first; k++) if (g.acked[k]) lines.push(g.first + k);
    const tmp = `${acksPath}.tmp`;
    writeFileSync(tmp, lines.length ? lines.join('\n') + '\n' : '');
    renameSync(tmp, acksPath);
  }

  function dropSegment(seg: Segment): void {
    if (active?.seg === seg) {
      closeSync(active.fd);
      active = undefined;
    }
    unlinkSync(seg.path);
    loaded.delete(seg.first);
    segments.splice(segments.indexOf(seg), 1);
    totalBytes -= seg.bytes;
    persistMeta();
  }

  return {
    async append(items) {
      if (closed) throw new Error('the spool is closed');
      const encoded = items.map((data) => Buffer.from(JSON.stringify(data)));
      const add = encoded.reduce((n, b) => n + b.length + 12, 0);
      const queued = pending.reduce((n, p) => n + p.buf.length, 0);
      if (totalBytes + queued + add > o.capBytes) throw new SpoolFullError(o.capBytes);
      const seqs = items.map((data, i) => {
        const seq = nextSeq++;
        pending.push({ buf: encodeRecord(seq, encoded[i]!), data, seq });
        return seq;
      });
      totalBytes += add;
      await new Promise<void>((resolve, reject) => {
        flushWaiters.push({ resolve, reject });
        flushTimer ??= setTimeout(flush, flushMs);
      });
      return seqs;
    },
    async next(max) {
      const out: SpoolRecord<T>[] = [];
      for (const seg of segments) {
        if (out.length >= max) break;
        if (cursor >= seg.end) continue;
        if (cursor < seg.first) cursor = seg.first;
        const recs = recordsOf(seg);
        while (out.length < max && cursor < seg.end) {
          const idx = cursor - seg.first;
          if (!seg.acked[idx]) {
            out.push({ seq: cursor, data: recs[idx]! });
            inFlight.add(cursor);
          }
          cursor++;
        }
      }
      return out;
    },
    async ack(seqs) {
      const lines: string[] = [];
      let dropped = false;
      for (const s of seqs) {
        const seg = segments.find((g) => s >= g.first && s < g.end);
        if (!seg || seg.acked[s - seg.first]) continue;
        seg.acked[s - seg.first] = 1;
        seg.unacked--;
        inFlight.delete(s);
        lines.push(String(s));
        // Fully acknowledged, a closed segment goes (the one being written closes at segmentBytes,
        // at most a quarter of the cap, and goes then).
        if (seg.unacked === 0 && seg !== active?.seg) {
          dropSegment(seg);
          dropped = true;
        }
      }
      if (lines.length) appendFileSync(acksPath, lines.join('\n') + '\n');
      if (dropped) rewriteAcks();
    },
    rewind() {
      inFlight.clear();
      // Records still waiting for their flush come before nextSeq: start at the oldest of all.
      cursor = Math.min(segments[0]?.first ?? nextSeq, pending[0]?.seq ?? nextSeq);
    },
    stats: () => ({
      backlog: segments.reduce((n, s) => n + s.unacked, 0) + pending.length,
      bytes: totalBytes,
      inFlight: inFlight.size,
      nextSeq,
    }),
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
      try {
        chmodSync(o.dir, 0o700);
        statSync(o.dir);
      } catch {
        /* best effort */
      }
    },
  };
}
