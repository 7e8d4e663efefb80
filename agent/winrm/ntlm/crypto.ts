import { createHash, createHmac } from 'node:crypto';
import { md4 } from './md4.ts';
import { rc4Once } from './rc4.ts';
import { channelBindingHashAlgorithm } from './cert-hash.ts';

// NTLMv2 key derivation (MS-NLMP 3.3.2, 3.4.5). No NTLMv1 here, deliberately.

export const hmacMd5 = (key: Uint8Array, ...data: Uint8Array[]): Buffer => {
  const h = createHmac('md5', key);
  for (const d of data) h.update(d);
  return h.digest();
};

const md5 = (...data: Uint8Array[]): Buffer => {
  const h = createHash('md5');
  for (const d of data) h.update(d);
  return h.digest();
};

const utf16 = (s: string): Buffer => Buffer.from(s, 'utf16le');

export const ntHash = (password: string): Buffer => md4(utf16(password));

/** NTOWFv2 = HMAC_MD5(MD4(password), UNICODE(Uppercase(user) + domain)). */
export const ntowfV2 = (password: string, user: string, domain: string): Buffer =>
  hmacMd5(ntHash(password), utf16(user.toUpperCase() + domain));

/** The NTLMv2 client blob ("temp", MS-NLMP 3.3.2) that follows NTProofStr. */
export function clientBlob(timestamp: Buffer, clientChallenge: Buffer, targetInfo: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from([1, 1]),
    Buffer.alloc(6),
    timestamp,
    clientChallenge,
    Buffer.alloc(4),
    targetInfo,
    Buffer.alloc(4),
  ]);
}

export interface V2Responses {
  ntChallengeResponse: Buffer;
  lmChallengeResponse: Buffer;
  ntProofStr: Buffer;
  sessionBaseKey: Buffer;
}

export function computeV2Responses(
  responseKeyNt: Buffer,
  serverChallenge: Buffer,
  clientChallenge: Buffer,
  blob: Buffer,
): V2Responses {
  const ntProofStr = hmacMd5(responseKeyNt, serverChallenge, blob);
  return {
    ntProofStr,
    ntChallengeResponse: Buffer.concat([ntProofStr, blob]),
    lmChallengeResponse: Buffer.concat([hmacMd5(responseKeyNt, serverChallenge, clientChallenge), clientChallenge]),
    sessionBaseKey: hmacMd5(responseKeyNt, ntProofStr),
  };
}

/** With KEY_EXCH the client picks the exported key and sends it RC4-encrypted with the key-exchange key. */
export const encryptSessionKey = (keyExchangeKey: Buffer, exportedSessionKey: Buffer): Buffer =>
  rc4Once(keyExchangeKey, exportedSessionKey);

const MAGIC = {
  clientSign: 'session key to client-to-server signing key magic constant\0',
  serverSign: 'session key to server-to-client signing key magic constant\0',
  clientSeal: 'session key to client-to-server sealing key magic constant\0',
  serverSeal: 'session key to server-to-client sealing key magic constant\0',
};

export interface SessionKeys {
  clientSign: Buffer;
  serverSign: Buffer;
  clientSeal: Buffer;
  serverSeal: Buffer;
}

/** SIGNKEY/SEALKEY with extended session security and 128-bit keys (MS-NLMP 3.4.5.2, 3.4.5.3). */
export function deriveSessionKeys(exportedSessionKey: Buffer): SessionKeys {
  const k = (magic: string) => md5(exportedSessionKey, Buffer.from(magic, 'latin1'));
  return {
    clientSign: k(MAGIC.clientSign),
    serverSign: k(MAGIC.serverSign),
    clientSeal: k(MAGIC.clientSeal),
    serverSeal: k(MAGIC.serverSeal),
  };
}

/** gss_channel_bindings_struct hash for TLS `tls-server-end-point` (RFC 5929), as the MsvAvChannelBindings value; the certificate hash follows its signature algorithm. */
export function channelBindingsHash(peerCertDer: Buffer): Buffer {
  const certHash = createHash(channelBindingHashAlgorithm(peerCertDer)).update(peerCertDer).digest();
  const appData = Buffer.concat([Buffer.from('tls-server-end-point:', 'latin1'), certHash]);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(appData.length);
  return md5(Buffer.alloc(16), len, appData);
}
