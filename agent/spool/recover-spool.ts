import { readdirSync, readFileSync, renameSync, openSync, closeSync, ftruncateSync, fsyncSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { decodeRecords } from './segment-file.ts';
import { EvictionLog, NEXT_NONE, NEXT_UNKNOWN, readEvictionFile } from './eviction-log.ts';
import { describeChecked, type DescribeRecord } from './spool.ts';
import { type Segment, newSegment, describeAt, setNext, NEXT_DELTA_UNKNOWN } from './segment.ts';

export const SEG_RE = /^seg-(\d{12})\.log$/;
export const segName = (first: number) => `seg-${String(first).padStart(12, '0')}.log`;

export interface RecoveredSpool {
  segments: Segment[];
  nextSeq: number;
  evictions: EvictionLog;
  /** Acknowledged sequence numbers still on disk (what acks.log should hold). */
  acked: number[];
}

/** Every seq in [from, to) lies in one of `segments` (sorted). */
function covered(segments: Segment[], from: number, to: number): boolean {
  let pos = from;
  for (const g of segments) {
    if (pos >= to) return true;
    if (g.end <= pos) continue;
    if (g.first > pos) return false;
    pos = g.end;
  }
  return pos >= to;
}

/**
 * Opening a disk spool: reads every segment (cutting torn tails), drops the ones fully
 * acknowledged or already evicted, and rebuilds what eviction accounting needs: each record's
 * monitor, time and the same monitor's next record. Where a deleted segment lies between two
 * records of a monitor, the one between might have been delivered: the link is marked unknown,
 * so such records never join one lost range (ranges stay exact, at worst split in two).
 */
export function recoverSpool<T>(dir: string, describe: DescribeRecord<T> | undefined, maxRanges: number | undefined): RecoveredSpool {
  let nextSeq = 1;
  try {
    nextSeq = Math.max(1, Number(JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')).next_seq) || 1);
  } catch {
    /* first start */
  }
  const ackedOnDisk = new Set<number>();
  try {
    for (const line of readFileSync(join(dir, 'acks.log'), 'utf8').split('\n')) if (line) ackedOnDisk.add(Number(line));
  } catch {
    /* none yet */
  }
  const evictedPath = join(dir, 'evicted.json');
  let file;
  try {
    file = readEvictionFile(evictedPath);
  } catch {
    // Damaged (not by us: it is replaced atomically): kept aside for a person, counting starts over.
    try {
      renameSync(evictedPath, `${evictedPath}.damaged`);
    } catch {
      /* it went */
    }
  }
  const evictions = file ? EvictionLog.fromFile(file, maxRanges) : new EvictionLog(maxRanges);
  if (file) nextSeq = Math.max(nextSeq, file.next_seq, file.evicted_below);

  const segments: Segment[] = [];
  for (const name of readdirSync(dir).filter((n) => SEG_RE.test(n)).sort()) {
    const path = join(dir, name);
    const first = Number(SEG_RE.exec(name)![1]);
    const buf = readFileSync(path);
    const { records, validBytes } = decodeRecords(buf, first);
    if (validBytes < buf.length) {
      const fd = openSync(path, 'r+');
      ftruncateSync(fd, validBytes);
      fsyncSync(fd);
      closeSync(fd);
    }
    const end = first + records.length;
    nextSeq = Math.max(nextSeq, end);
    const seg = newSegment(first, path, records.length);
    seg.end = end;
    seg.bytes = validBytes;
    for (let i = 0; i < records.length; i++) {
      if (ackedOnDisk.has(first + i)) seg.acked[i] = 1;
      else seg.unacked++;
      if (!describe) continue;
      try {
        const d = describeChecked(describe, JSON.parse(records[i]!.payload.toString('utf8')) as T);
        describeAt(seg, i, d.monitor, d.time, 0);
      } catch {
        /* kept and sent, not accounted for by monitor */
      }
    }
    seg.minDirty = true;
    // Evicted already: a crash came between writing evicted.json and deleting the file.
    if (seg.unacked === 0 || end <= evictions.evictedBelow) unlinkSync(path);
    else segments.push(seg);
  }

  const last = new Map<number, { seg: Segment; seq: number; holes: number }>();
  const firstOf = new Map<number, number>();
  let holes = 0;
  let prevEnd: number | undefined;
  for (const seg of segments) {
    if (prevEnd !== undefined && seg.first > prevEnd) holes++;
    prevEnd = seg.end;
    for (let i = 0; i < seg.end - seg.first; i++) {
      const m = seg.monitor[i]!;
      if (!m) continue;
      const seq = seg.first + i;
      const p = last.get(m);
      if (!p) firstOf.set(m, seq);
      else if (p.holes === holes) setNext(p.seg, p.seq, seq);
      else p.seg.nextDelta[p.seq - p.seg.first] = NEXT_DELTA_UNKNOWN;
      last.set(m, { seg, seq, holes });
    }
  }
  const tailHole = prevEnd !== undefined && prevEnd < nextSeq;
  for (const [m, p] of last) {
    if (p.holes !== holes || tailHole) p.seg.nextDelta[p.seq - p.seg.first] = NEXT_DELTA_UNKNOWN;
    else if (!p.seg.acked[p.seq - p.seg.first]) evictions.restoreNewest(m, p.seq);
  }
  // A range whose monitor had appended nothing after it when evicted.json was written: what it
  // appended since is on disk, unless a segment in between is gone.
  for (const w of evictions.openWaiting()) {
    const x = firstOf.get(w.monitor);
    const ok = file !== undefined && (x === undefined || x >= file.next_seq) && covered(segments, file.next_seq, x ?? nextSeq);
    w.resolve(ok ? (x ?? NEXT_NONE) : NEXT_UNKNOWN);
  }
  evictions.evictedBelow = Math.max(evictions.evictedBelow, segments[0]?.first ?? nextSeq);
  const acked: number[] = [];
  for (const g of segments) for (let k = 0; k < g.end - g.first; k++) if (g.acked[k]) acked.push(g.first + k);
  return { segments, nextSeq, evictions, acked };
}
