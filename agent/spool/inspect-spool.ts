import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeRecords } from './segment-file.ts';
import { EvictionLog, NO_EVICTIONS, readEvictionFile } from './eviction-log.ts';
import { readAcks, readNextSeq, SEG_RE } from './recover-spool.ts';
import { describeChecked, type DescribeRecord, type SpoolEvictions } from './spool.ts';

export interface SpoolInspection {
  backlog: number;
  bytes: number;
  next_seq: number;
  /** The oldest unacknowledged record's time (ISO; null: empty, or no `describe`). */
  oldest_time: string | null;
  /** What the spool evicted at its cap, as the agent persisted it. */
  evicted: SpoolEvictions;
  /** evicted.json could not be read (what is wrong with it); `evicted` is then empty. */
  evicted_error?: string;
}

/**
 * What a disk spool holds, read without changing anything: `nmslite-agent status` runs beside a
 * live agent, and opening the spool (which recovers torn tails and drops acknowledged segments)
 * would cut the file the agent is writing.
 */
export function inspectDiskSpool<T>(dir: string, describe?: DescribeRecord<T>): SpoolInspection {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return { backlog: 0, bytes: 0, next_seq: 1, oldest_time: null, evicted: NO_EVICTIONS };
  }
  let nextSeq = readNextSeq(dir);
  const acked = readAcks(dir);
  let evicted = NO_EVICTIONS;
  let evictedError: string | undefined;
  let evictedBelow = 1;
  try {
    const file = readEvictionFile(join(dir, 'evicted.json'));
    if (file) {
      evicted = EvictionLog.fromFile(file).report();
      evictedBelow = file.evicted_below;
      nextSeq = Math.max(nextSeq, file.next_seq);
    }
  } catch (err) {
    evictedError = (err as Error).message;
  }
  let backlog = 0;
  let bytes = 0;
  let oldest = Number.NaN;
  for (const name of names.filter((n) => SEG_RE.test(n))) {
    const first = Number(SEG_RE.exec(name)![1]);
    let buf: Buffer;
    try {
      buf = readFileSync(join(dir, name));
    } catch {
      continue; // the running agent deleted it (fully acknowledged, or evicted) since the listing
    }
    const { records, validBytes } = decodeRecords(buf, first);
    nextSeq = Math.max(nextSeq, first + records.length);
    // Evicted and counted already; the agent deletes the file right after recording that.
    if (first + records.length <= evictedBelow) continue;
    bytes += validBytes;
    for (const r of records) {
      if (acked.has(r.seq)) continue;
      backlog++;
      if (!describe) continue;
      try {
        const { time } = describeChecked(describe, JSON.parse(r.payload.toString('utf8')) as T);
        if (!(time >= oldest)) oldest = time;
      } catch {
        /* a record that names no time is counted, not dated */
      }
    }
  }
  return {
    backlog,
    bytes,
    next_seq: nextSeq,
    oldest_time: Number.isFinite(oldest) ? new Date(oldest).toISOString() : null,
    evicted,
    ...(evictedError ? { evicted_error: evictedError } : {}),
  };
}
