import { SpoolFullError, type Spool, type SpoolRecord } from './spool.ts';

/** A spool in memory: for tests and for `collect`-style one-shot use. Loses everything on exit. */
export function createMemorySpool<T>(opts: { capBytes?: number; firstSeq?: number } = {}): Spool<T> {
  const records = new Map<number, { data: T; bytes: number }>();
  let nextSeq = opts.firstSeq ?? 1;
  let cursor = nextSeq;
  let bytes = 0;
  const sent = new Set<number>();
  return {
    async append(items) {
      const sizes = items.map((d) => Buffer.byteLength(JSON.stringify(d)));
      const add = sizes.reduce((a, b) => a + b, 0);
      if (opts.capBytes !== undefined && bytes + add > opts.capBytes) throw new SpoolFullError(opts.capBytes);
      return items.map((data, i) => {
        const seq = nextSeq++;
        records.set(seq, { data, bytes: sizes[i]! });
        bytes += sizes[i]!;
        return seq;
      });
    },
    async next(max) {
      const out: SpoolRecord<T>[] = [];
      while (out.length < max && cursor < nextSeq) {
        const r = records.get(cursor);
        if (r) {
          out.push({ seq: cursor, data: r.data });
          sent.add(cursor);
        }
        cursor++;
      }
      return out;
    },
    async ack(seqs) {
      for (const s of seqs) {
        const r = records.get(s);
        if (!r) continue;
        records.delete(s);
        sent.delete(s);
        bytes -= r.bytes;
      }
    },
    rewind() {
      sent.clear();
      cursor = nextSeq;
      for (const s of records.keys()) if (s < cursor) cursor = s;
    },
    stats: () => ({ backlog: records.size, bytes, inFlight: sent.size, nextSeq }),
    async close() {},
  };
}
