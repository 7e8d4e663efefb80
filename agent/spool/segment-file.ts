import { crc32 } from 'node:zlib';

// One spool record on disk: u32 payload length | u32 CRC-32 of the payload | u32 seq (mod 2^32) | JSON payload.
// A record torn by a crash fails the length or CRC check and ends the readable part of the file.
// A segment's records have consecutive sequence numbers from the one in its file name, so the
// header keeps only the low 32 bits (checked on reading) and a spool outlives 2^32 records.

const HEADER = 12;
const U32 = 2 ** 32;

export function encodeRecord(seq: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  out.writeUInt32LE(seq % U32, 8);
  payload.copy(out, HEADER);
  return out;
}

export interface DecodedRecord {
  seq: number;
  payload: Buffer;
}

/**
 * Reads whole records of the segment whose first sequence number is `first`; `validBytes` is
 * where the intact part ends (the rest is a torn tail, or a record out of sequence).
 */
export function decodeRecords(buf: Buffer, first: number): { records: DecodedRecord[]; validBytes: number } {
  const records: DecodedRecord[] = [];
  let pos = 0;
  while (pos + HEADER <= buf.length) {
    const len = buf.readUInt32LE(pos);
    if (pos + HEADER + len > buf.length) break;
    const payload = buf.subarray(pos + HEADER, pos + HEADER + len);
    if (crc32(payload) !== buf.readUInt32LE(pos + 4)) break;
    const seq = first + records.length;
    if (buf.readUInt32LE(pos + 8) !== seq % U32) break;
    records.push({ seq, payload });
    pos += HEADER + len;
  }
  return { records, validBytes: pos };
}

// A "gone" file: the monitors whose records were in a fully acknowledged segment that was deleted
// while older segments remain (so a restart knows what lay in the hole).
// u32 count | u32 CRC-32 of the ids | count x u32 monitor id, ascending.

export function encodeMonitorSet(monitors: Iterable<number>): Buffer {
  const ids = Uint32Array.from(new Set(monitors)).sort();
  const body = Buffer.allocUnsafe(4 * ids.length);
  ids.forEach((id, i) => body.writeUInt32LE(id, 4 * i));
  const out = Buffer.allocUnsafe(8 + body.length);
  out.writeUInt32LE(ids.length, 0);
  out.writeUInt32LE(crc32(body), 4);
  body.copy(out, 8);
  return out;
}

/** The set, or undefined when the file is torn or damaged. */
export function decodeMonitorSet(buf: Buffer): Set<number> | undefined {
  if (buf.length < 8) return undefined;
  const n = buf.readUInt32LE(0);
  if (buf.length !== 8 + 4 * n) return undefined;
  const body = buf.subarray(8);
  if (crc32(body) !== buf.readUInt32LE(4)) return undefined;
  const out = new Set<number>();
  for (let i = 0; i < n; i++) out.add(body.readUInt32LE(4 * i));
  return out;
}
