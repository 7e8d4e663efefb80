import { crc32 } from 'node:zlib';

// One spool record on disk: u32 payload length | u32 CRC-32 of the payload | u32 seq | JSON payload.
// A record torn by a crash fails the length or CRC check and ends the readable part of the file.

const HEADER = 12;

export function encodeRecord(seq: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  out.writeUInt32LE(seq, 8);
  payload.copy(out, HEADER);
  return out;
}

export interface DecodedRecord {
  seq: number;
  payload: Buffer;
}

/** Reads whole records; `validBytes` is where the intact part ends (the rest is a torn tail). */
export function decodeRecords(buf: Buffer): { records: DecodedRecord[]; validBytes: number } {
  const records: DecodedRecord[] = [];
  let pos = 0;
  while (pos + HEADER <= buf.length) {
    const len = buf.readUInt32LE(pos);
    if (pos + HEADER + len > buf.length) break;
    const payload = buf.subarray(pos + HEADER, pos + HEADER + len);
    if (crc32(payload) !== buf.readUInt32LE(pos + 4)) break;
    records.push({ seq: buf.readUInt32LE(pos + 8), payload });
    pos += HEADER + len;
  }
  return { records, validBytes: pos };
}
