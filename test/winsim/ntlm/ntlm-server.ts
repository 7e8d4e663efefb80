import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NtlmAcceptor, NtlmServerSession } from '../ntlm-acceptor.ts';
import { md4 } from './md4.ts';
import { Rc4, rc4Once } from './rc4.ts';
import { decodeEncryptedBody, encodeEncryptedBody } from './wsmv-framing.ts';

// Server side of NTLMv2 (MS-NLMP 3.2.5) as a Windows WinRM host runs it: CHALLENGE, AUTHENTICATE
// verification against the local account's password, then sealing with extended session security.

const F = {
  UNICODE: 0x00000001,
  OEM: 0x00000002,
  REQUEST_TARGET: 0x00000004,
  SIGN: 0x00000010,
  SEAL: 0x00000020,
  NTLM: 0x00000200,
  ALWAYS_SIGN: 0x00008000,
  TARGET_TYPE_SERVER: 0x00020000,
  EXTENDED_SESSIONSECURITY: 0x00080000,
  TARGET_INFO: 0x00800000,
  VERSION: 0x02000000,
  N128: 0x20000000,
  KEY_EXCH: 0x40000000,
  N56: 0x80000000,
} as const;

const ECHOED =
  F.UNICODE |
  F.SIGN |
  F.SEAL |
  F.NTLM |
  F.ALWAYS_SIGN |
  F.EXTENDED_SESSIONSECURITY |
  F.VERSION |
  F.N128 |
  F.KEY_EXCH |
  F.N56;

interface Pending {
  serverChallenge: Buffer;
  flags: number;
}

const hmacMd5 = (key: Uint8Array, ...data: Uint8Array[]): Buffer => {
  const h = createHmac('md5', key);
  for (const d of data) h.update(d);
  return h.digest();
};
const md5 = (...data: Uint8Array[]): Buffer => {
  const h = createHash('md5');
  for (const d of data) h.update(d);
  return h.digest();
};

function avPair(id: number, value: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16LE(id, 0);
  head.writeUInt16LE(value.length, 2);
  return Buffer.concat([head, value]);
}

function field(msg: Buffer, at: number): Buffer {
  const len = msg.readUInt16LE(at);
  const off = msg.readUInt32LE(at + 4);
  if (off + len > msg.length) throw new Error('NTLM field out of range');
  return msg.subarray(off, off + len);
}

export function createNtlmAcceptor(o: { computerName: (() => string) | string }): NtlmAcceptor {
  const name = (): string => (typeof o.computerName === 'string' ? o.computerName : o.computerName());
  return {
    challenge(negotiate) {
      const clientFlags = negotiate.readUInt32LE(12);
      let flags = (clientFlags & ECHOED) | F.REQUEST_TARGET | F.TARGET_INFO | F.TARGET_TYPE_SERVER;
      if (!(clientFlags & F.UNICODE)) flags |= F.OEM;
      flags >>>= 0;
      const computer = name().toUpperCase();
      const target = Buffer.from(computer, 'utf16le');
      const time = Buffer.alloc(8);
      time.writeBigUInt64LE((BigInt(Date.now()) + 11644473600000n) * 10000n);
      const info = Buffer.concat([
        avPair(2, target),
        avPair(1, target),
        avPair(4, Buffer.from(computer.toLowerCase(), 'utf16le')),
        avPair(3, Buffer.from(computer.toLowerCase(), 'utf16le')),
        avPair(7, time),
        avPair(0, Buffer.alloc(0)),
      ]);
      const serverChallenge = randomBytes(8);
      const head = Buffer.alloc(56);
      head.write('NTLMSSP\0', 0, 'latin1');
      head.writeUInt32LE(2, 8);
      head.writeUInt16LE(target.length, 12);
      head.writeUInt16LE(target.length, 14);
      head.writeUInt32LE(56, 16);
      head.writeUInt32LE(flags, 20);
      serverChallenge.copy(head, 24);
      head.writeUInt16LE(info.length, 40);
      head.writeUInt16LE(info.length, 42);
      head.writeUInt32LE(56 + target.length, 44);
      // Version: Windows 10.0 build 17763, NTLM revision 15.
      Buffer.from([10, 0, 0x4b, 0x45, 0, 0, 0, 15]).copy(head, 48);
      const pending: Pending = { serverChallenge, flags };
      return { token: Buffer.concat([head, target, info]), pending };
    },

    authenticate(pendingState, msg, password) {
      const pending = pendingState as Pending;
      try {
        if (msg.readUInt32LE(8) !== 3) return undefined;
        const flags = msg.readUInt32LE(60) >>> 0;
        const unicode = (flags & F.UNICODE) !== 0;
        const text = (b: Buffer): string => b.toString(unicode ? 'utf16le' : 'latin1');
        const ntResponse = field(msg, 20);
        const domain = text(field(msg, 28));
        const user = text(field(msg, 36));
        const encryptedKey = field(msg, 52);
        if (user === '' || ntResponse.length < 48) return undefined; // anonymous or NTLMv1: refused
        const ntProof = ntResponse.subarray(0, 16);
        const blob = ntResponse.subarray(16);
        const responseKey = hmacMd5(
          md4(Buffer.from(password, 'utf16le')),
          Buffer.from(user.toUpperCase() + domain, 'utf16le'),
        );
        const expected = hmacMd5(responseKey, pending.serverChallenge, blob);
        if (!timingSafeEqual(expected, ntProof)) return undefined;
        const sessionBaseKey = hmacMd5(responseKey, ntProof);
        const exported =
          flags & F.KEY_EXCH && encryptedKey.length === 16 ? rc4Once(sessionBaseKey, encryptedKey) : sessionBaseKey;
        return { user, domain, session: createSealingSession(exported, flags) };
      } catch {
        return undefined;
      }
    },
  };
}

const MAGIC = {
  c2sSign: 'session key to client-to-server signing key magic constant\0',
  s2cSign: 'session key to server-to-client signing key magic constant\0',
  c2sSeal: 'session key to client-to-server sealing key magic constant\0',
  s2cSeal: 'session key to server-to-client sealing key magic constant\0',
};

export interface SealingKeys {
  c2sSign: Buffer;
  s2cSign: Buffer;
  c2sSeal: Buffer;
  s2cSeal: Buffer;
}

/** MS-NLMP 3.4.5.2/3.4.5.3 with extended session security. */
export function sealingKeys(exportedSessionKey: Buffer, flags: number): SealingKeys {
  const base =
    flags & F.N128
      ? exportedSessionKey
      : flags & F.N56
        ? exportedSessionKey.subarray(0, 7)
        : exportedSessionKey.subarray(0, 5);
  return {
    c2sSign: md5(exportedSessionKey, Buffer.from(MAGIC.c2sSign, 'latin1')),
    s2cSign: md5(exportedSessionKey, Buffer.from(MAGIC.s2cSign, 'latin1')),
    c2sSeal: md5(base, Buffer.from(MAGIC.c2sSeal, 'latin1')),
    s2cSeal: md5(base, Buffer.from(MAGIC.s2cSeal, 'latin1')),
  };
}

/** The server's half of a sealed NTLM session: unseal/verify requests, seal/sign responses. */
export function createSealingSession(
  exportedSessionKey: Buffer,
  flags: number,
): NtlmServerSession & { keys: SealingKeys } {
  const keys = sealingKeys(exportedSessionKey, flags);
  const inbound = new Rc4(keys.c2sSeal);
  const outbound = new Rc4(keys.s2cSeal);
  let inSeq = 0;
  let outSeq = 0;
  const seqBytes = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n >>> 0);
    return b;
  };
  return {
    keys,
    decryptRequest(body) {
      const { signature, sealed, length } = decodeEncryptedBody(body);
      const plain = inbound.update(sealed);
      const seq = seqBytes(inSeq);
      const checksum = inbound.update(hmacMd5(keys.c2sSign, seq, plain).subarray(0, 8));
      const expected = Buffer.concat([Buffer.from([1, 0, 0, 0]), checksum, seq]);
      inSeq++;
      if (!timingSafeEqual(expected, signature)) throw new Error('NTLM signature or sequence number mismatch');
      if (plain.length !== length) throw new Error('sealed length does not match OriginalContent Length');
      return plain;
    },
    encryptResponse(plain) {
      const sealed = outbound.update(plain);
      const seq = seqBytes(outSeq++);
      const checksum = outbound.update(hmacMd5(keys.s2cSign, seq, plain).subarray(0, 8));
      return encodeEncryptedBody(Buffer.concat([Buffer.from([1, 0, 0, 0]), checksum, seq]), sealed, plain.length);
    },
  };
}
