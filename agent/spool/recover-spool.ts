import {
  readdirSync,
  readFileSync,
  renameSync,
  openSync,
  closeSync,
  ftruncateSync,
  fsyncSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { decodeMonitorSet, decodeRecords, encodeMonitorSet } from './segment-file.ts';
import { EvictionLog, NEXT_NONE, NEXT_UNKNOWN, readEvictionFile } from './eviction-log.ts';
import { describeChecked, type DescribeRecord } from './spool.ts';
import { type Segment, newSegment, describeAt, setNext, NEXT_DELTA_UNKNOWN, firstSegmentAfter } from './segment.ts';

export const SEG_RE = /^seg-(\d{12})\.log$/;
export const segName = (first: number) => `seg-${String(first).padStart(12, '0')}.log`;
const GONE_RE = /^gone-(\d{12})-(\d{12})\.mon$/;
const pad = (n: number) => String(n).padStart(12, '0');

/** The next sequence number meta.json records (1 when there is none yet or it cannot be read). */
export function readNextSeq(dir: string): number {
  try {
    return Math.max(1, Number(JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')).next_seq) || 1);
  } catch {
    return 1;
  }
}

/** The sequence numbers acks.log records as acknowledged (none when there is no log yet). */
export function readAcks(dir: string): Set<number> {
  const acked = new Set<number>();
  try {
    for (const line of readFileSync(join(dir, 'acks.log'), 'utf8').split('\n')) if (line) acked.add(Number(line));
  } catch {
    /* none yet */
  }
  return acked;
}

/** A fully acknowledged segment deleted while older ones remain: which monitors it held (undefined: unknown). */
export interface Gone {
  first: number;
  end: number;
  path: string;
  monitors: Set<number> | undefined;
}

/** Records which monitors a deleted segment held (written before the segment is deleted; no fsync: a torn file reads as unknown). */
export function writeGone(dir: string, seg: Segment): Gone {
  const path = join(dir, `gone-${pad(seg.first)}-${pad(seg.end)}.mon`);
  const monitors = new Set<number>();
  for (let i = 0; i < seg.end - seg.first; i++) if (seg.monitor[i]) monitors.add(seg.monitor[i]!);
  writeFileSync(`${path}.tmp`, encodeMonitorSet(monitors), { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
  return { first: seg.first, end: seg.end, path, monitors };
}

/** Gone files wholly older than `oldest` (the oldest record still on disk) describe no hole any more. */
export function pruneGone(gone: Gone[], oldest: number): void {
  for (let i = gone.length - 1; i >= 0; i--) {
    if (gone[i]!.end > oldest) continue;
    try {
      unlinkSync(gone[i]!.path);
    } catch {
      /* gone already */
    }
    gone.splice(i, 1);
  }
}

export interface RecoveredSpool {
  segments: Segment[];
  nextSeq: number;
  evictions: EvictionLog;
  /** Acknowledged sequence numbers still on disk (what acks.log should hold). */
  acked: number[];
  gone: Gone[];
}

/**
 * Whether a record of monitor `m` may have lain in [from, to) and been delivered: some seq there
 * is in no segment on disk (`transparent`: their records were all seen) and in no gone file that
 * leaves `m` out. Both lists sorted by `first`, not overlapping.
 */
function mayHideDelivered(
  m: number,
  from: number,
  to: number,
  known: { first: number; end: number; monitors?: Set<number> | undefined; transparent?: boolean }[],
): boolean {
  let pos = from;
  for (let i = firstSegmentAfter(known, from); pos < to; i++) {
    const k = known[i];
    if (!k || k.first > pos) return true;
    if (!k.transparent && (!k.monitors || k.monitors.has(m))) return true;
    pos = k.end;
  }
  return false;
}

/**
 * Opening a disk spool: reads every segment (cutting torn tails), drops the ones fully
 * acknowledged or already evicted, and rebuilds what eviction accounting needs: each record's
 * monitor, time and the same monitor's next record. Where a fully acknowledged segment was
 * deleted between two records of a monitor, its gone file says whether that monitor had a
 * (delivered) record there; without one (a failed write, a torn file) the link is marked unknown,
 * so such records never join one lost range (at worst a range is split in two, never merged wrongly).
 */
export function recoverSpool<T>(
  dir: string,
  describe: DescribeRecord<T> | undefined,
  maxRanges: number | undefined,
): RecoveredSpool {
  let nextSeq = readNextSeq(dir);
  const ackedOnDisk = readAcks(dir);
  const evictedPath = join(dir, 'evicted.json');
  let file: ReturnType<typeof readEvictionFile>;
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

  const names = readdirSync(dir);
  const gone: Gone[] = [];
  for (const name of names) {
    const g = GONE_RE.exec(name);
    if (!g) continue;
    let monitors: Set<number> | undefined;
    try {
      monitors = decodeMonitorSet(readFileSync(join(dir, name)));
    } catch {
      /* unreadable: unknown */
    }
    gone.push({ first: Number(g[1]), end: Number(g[2]), path: join(dir, name), monitors });
  }
  const segments: Segment[] = [];
  for (const name of names.filter((n) => SEG_RE.test(n)).sort()) {
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
    if (end <= evictions.evictedBelow || end === first) unlinkSync(path);
    else if (seg.unacked === 0) {
      if (describe) gone.push(writeGone(dir, seg));
      unlinkSync(path);
    } else segments.push(seg);
  }
  pruneGone(gone, segments[0]?.first ?? nextSeq);
  gone.sort((a, b) => a.first - b.first);
  const known = [...segments.map((g) => ({ first: g.first, end: g.end, transparent: true })), ...gone].sort(
    (a, b) => a.first - b.first,
  );

  // Each record's successor: the same monitor's next record on disk, unless one of its records
  // may have lain (and been delivered) in a deleted segment between them.
  const last = new Map<number, { seg: Segment; seq: number }>();
  const firstOf = new Map<number, number>();
  for (const seg of segments) {
    for (let i = 0; i < seg.end - seg.first; i++) {
      const m = seg.monitor[i]!;
      if (!m) continue;
      const seq = seg.first + i;
      const p = last.get(m);
      if (!p) firstOf.set(m, seq);
      else if (mayHideDelivered(m, p.seq + 1, seq, known)) p.seg.nextDelta[p.seq - p.seg.first] = NEXT_DELTA_UNKNOWN;
      else setNext(p.seg, p.seq, seq);
      last.set(m, { seg, seq });
    }
  }
  for (const [m, p] of last) {
    if (mayHideDelivered(m, p.seq + 1, nextSeq, known)) p.seg.nextDelta[p.seq - p.seg.first] = NEXT_DELTA_UNKNOWN;
    else if (!p.seg.acked[p.seq - p.seg.first]) evictions.restoreNewest(m, p.seq);
  }
  // A range whose monitor had appended nothing after it when evicted.json was written: what it
  // appended since is on disk, unless it may have been delivered from a deleted segment.
  for (const w of evictions.openWaiting()) {
    const x = firstOf.get(w.monitor);
    const ok =
      file !== undefined &&
      (x === undefined || x >= file.next_seq) &&
      !mayHideDelivered(w.monitor, file.next_seq, x ?? nextSeq, known);
    w.resolve(ok ? (x ?? NEXT_NONE) : NEXT_UNKNOWN);
  }
  evictions.evictedBelow = Math.max(evictions.evictedBelow, segments[0]?.first ?? nextSeq);
  const acked: number[] = [];
  for (const g of segments) for (let k = 0; k < g.end - g.first; k++) if (g.acked[k]) acked.push(g.first + k);
  return { segments, nextSeq, evictions, acked, gone };
}
