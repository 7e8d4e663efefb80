import { NtlmProtocolError } from './errors.ts';
import { MsvAvEOL } from './flags.ts';

// NTLMSSP message layouts (MS-NLMP 2.2.1). Every field offset is checked against the buffer.

const SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');
/** VERSION field we send: Windows 10.0 build 17763, NTLM revision 15 (what modern clients send). */
const VERSION = Buffer.from([10, 0, 0x63, 0x45, 0, 0, 0, 15]);

export interface AvPair {
  id: number;
  value: Buffer;
}

export interface ChallengeMessage {
  flags: number;
  serverChallenge: Buffer;
  targetName: string;
  targetInfo: Buffer;
  avPairs: AvPair[];
}

export function buildNegotiate(flags: number): Buffer {
  const msg = Buffer.alloc(40);
  SIGNATURE.copy(msg, 0);
  msg.writeUInt32LE(1, 8);
  msg.writeUInt32LE(flags >>> 0, 12);
  // DomainNameFields and WorkstationFields stay empty (offset 40, length 0).
  msg.writeUInt32LE(40, 20);
  msg.writeUInt32LE(40, 28);
  VERSION.copy(msg, 32);
  return msg;
}

function readField(buf: Buffer, at: number, what: string): Buffer {
  if (at + 8 > buf.length) throw new NtlmProtocolError(`${what} field header is truncated`);
  const len = buf.readUInt16LE(at);
  const off = buf.readUInt32LE(at + 4);
  if (len === 0) return Buffer.alloc(0);
  if (off + len > buf.length) throw new NtlmProtocolError(`${what} points outside the message`);
  return buf.subarray(off, off + len);
}

export function parseAvPairs(info: Buffer): AvPair[] {
  const pairs: AvPair[] = [];
  let pos = 0;
  while (pos + 4 <= info.length) {
    const id = info.readUInt16LE(pos);
    const len = info.readUInt16LE(pos + 2);
    pos += 4;
    if (id === MsvAvEOL) return pairs;
    if (pos + len > info.length) throw new NtlmProtocolError('target info AV pair is truncated');
    pairs.push({ id, value: info.subarray(pos, pos + len) });
    pos += len;
  }
  throw new NtlmProtocolError('target info has no MsvAvEOL terminator');
}

export function encodeAvPairs(pairs: AvPair[]): Buffer {
  const parts: Buffer[] = [];
  for (const p of pairs) {
    const head = Buffer.alloc(4);
    head.writeUInt16LE(p.id, 0);
    head.writeUInt16LE(p.value.length, 2);
    parts.push(head, p.value);
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

export function parseChallenge(buf: Buffer): ChallengeMessage {
  if (buf.length < 32 || !buf.subarray(0, 8).equals(SIGNATURE)) throw new NtlmProtocolError('not an NTLMSSP message');
  if (buf.readUInt32LE(8) !== 2) throw new NtlmProtocolError('expected an NTLM CHALLENGE message');
  const flags = buf.readUInt32LE(20);
  const targetName = readField(buf, 12, 'TargetName').toString('utf16le');
  const serverChallenge = Buffer.from(buf.subarray(24, 32));
  const targetInfo = buf.length >= 48 ? Buffer.from(readField(buf, 40, 'TargetInfo')) : Buffer.alloc(0);
  const avPairs = targetInfo.length ? parseAvPairs(targetInfo) : [];
  return { flags, serverChallenge, targetName, targetInfo, avPairs };
}

export interface AuthenticateFields {
  flags: number;
  lmChallengeResponse: Buffer;
  ntChallengeResponse: Buffer;
  domain: string;
  user: string;
  workstation: string;
  encryptedRandomSessionKey: Buffer;
}

/** Builds AUTHENTICATE with a zeroed MIC slot; returns the message and the MIC offset. */
export function buildAuthenticate(f: AuthenticateFields): { message: Buffer; micOffset: number } {
  const header = 88; // 64 fixed + 8 VERSION + 16 MIC
  const payload = [
    f.lmChallengeResponse,
    f.ntChallengeResponse,
    Buffer.from(f.domain, 'utf16le'),
    Buffer.from(f.user, 'utf16le'),
    Buffer.from(f.workstation, 'utf16le'),
    f.encryptedRandomSessionKey,
  ];
  const msg = Buffer.alloc(header + payload.reduce((n, p) => n + p.length, 0));
  SIGNATURE.copy(msg, 0);
  msg.writeUInt32LE(3, 8);
  let off = header;
  const fieldAt = [12, 20, 28, 36, 44, 52];
  payload.forEach((p, i) => {
    const at = fieldAt[i]!;
    msg.writeUInt16LE(p.length, at);
    msg.writeUInt16LE(p.length, at + 2);
    msg.writeUInt32LE(off, at + 4);
    p.copy(msg, off);
    off += p.length;
  });
  msg.writeUInt32LE(f.flags >>> 0, 60);
  VERSION.copy(msg, 64);
  return { message: msg, micOffset: 72 };
}
