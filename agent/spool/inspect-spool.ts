import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeRecords } from './segment-file.ts';

/**
 * What a disk spool holds, read without changing anything: `nmslite-agent status` runs beside a
 * live agent, and opening the spool (which recovers torn tails and drops acknowledged segments)
 * would cut the file the agent is writing.
 */
export function inspectDiskSpool(dir: string): { backlog: number; bytes: number; next_seq: number } {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return { backlog: 0, bytes: 0, next_seq: 1 };
  }
  let nextSeq = 1;
  try {
    nextSeq = Math.max(1, Number(JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')).next_seq) || 1);
  } catch {
    /* no meta yet */
  }
  const acked = new Set<number>();
  try {
    for (const line of readFileSync(join(dir, 'acks.log'), 'utf8').split('\n')) if (line) acked.add(Number(line));
  } catch {
    /* none */
  }
  let backlog = 0;
  let bytes = 0;
  for (const name of names.filter((n) => /^seg-\d{12}\.log$/.test(n))) {
    let buf: Buffer;
    try {
      buf = readFileSync(join(dir, name));
    } catch {
      continue; // the running agent deleted it (fully acknowledged) since the listing
    }
    const { records, validBytes } = decodeRecords(buf);
    bytes += validBytes;
    for (const r of records) {
      if (!acked.has(r.seq)) backlog++;
      nextSeq = Math.max(nextSeq, r.seq + 1);
    }
  }
  return { backlog, bytes, next_seq: nextSeq };
}
