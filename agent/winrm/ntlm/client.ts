import { randomBytes } from 'node:crypto';
import { channelBindingsHash, clientBlob, computeV2Responses, encryptSessionKey, hmacMd5, ntowfV2 } from './crypto.ts';
import { NtlmProtocolError } from './errors.ts';
import {
  CLIENT_FLAGS,
  MsvAvChannelBindings,
  MsvAvFlags,
  MsvAvTimestamp,
  NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY,
  NTLMSSP_NEGOTIATE_KEY_EXCH,
  NTLMSSP_NEGOTIATE_UNICODE,
} from './flags.ts';
import { buildAuthenticate, buildNegotiate, encodeAvPairs, parseChallenge, type AvPair } from './messages.ts';
import { createNtlmSession, type NtlmSession } from './session.ts';

export interface NtlmCredentials {
  username: string;
  password: string;
  domain?: string;
}

/** Test hooks: fixed randomness so the MS-NLMP example values can be reproduced. */
export interface NtlmClientOptions {
  clientChallenge?: Buffer;
  exportedSessionKey?: Buffer;
  now?: () => Date;
}

export interface NtlmClientContext {
  negotiate(): Buffer;
  /** CHALLENGE → AUTHENTICATE (NTLMv2 only). `peerCertDer` adds a TLS channel binding. */
  authenticate(challenge: Buffer, peerCertDer?: Buffer): Buffer;
  /** Available after authenticate(). */
  session(): NtlmSession;
}

/** `DOMAIN\user` splits into its parts; `user@domain` (UPN) is sent whole with an empty domain. */
export function splitUser(c: NtlmCredentials): { user: string; domain: string } {
  const slash = c.username.indexOf('\\');
  if (slash >= 0) return { domain: c.username.slice(0, slash), user: c.username.slice(slash + 1) };
  return { user: c.username, domain: c.domain ?? '' };
}

const fileTime = (d: Date): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE((BigInt(d.getTime()) + 11644473600000n) * 10000n);
  return b;
};

export function createNtlmClient(creds: NtlmCredentials, opts: NtlmClientOptions = {}): NtlmClientContext {
  let negotiateMsg: Buffer | undefined;
  let exported: Buffer | undefined;
  return {
    negotiate() {
      negotiateMsg = buildNegotiate(CLIENT_FLAGS);
      return negotiateMsg;
    },
    authenticate(challengeBytes, peerCertDer) {
      if (!negotiateMsg) throw new NtlmProtocolError('negotiate() must come first');
      const ch = parseChallenge(challengeBytes);
      if (!(ch.flags & NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY)) {
        throw new NtlmProtocolError('the host offered only NTLMv1 session security, which is refused');
      }
      if (!(ch.flags & NTLMSSP_NEGOTIATE_UNICODE)) throw new NtlmProtocolError('the host does not offer Unicode NTLM');
      const flags = (ch.flags & CLIENT_FLAGS) >>> 0;
      const stamp = ch.avPairs.find((p) => p.id === MsvAvTimestamp)?.value;
      const timestamp = stamp ?? fileTime(opts.now?.() ?? new Date());

      const pairs: AvPair[] = ch.avPairs.filter((p) => p.id !== MsvAvFlags && p.id !== MsvAvChannelBindings);
      const existingFlags = ch.avPairs.find((p) => p.id === MsvAvFlags)?.value.readUInt32LE(0) ?? 0;
      const avFlags = Buffer.alloc(4);
      avFlags.writeUInt32LE((existingFlags | (stamp ? 0x2 : 0)) >>> 0);
      pairs.push({ id: MsvAvFlags, value: avFlags });
      pairs.push({
        id: MsvAvChannelBindings,
        value: peerCertDer ? channelBindingsHash(peerCertDer) : Buffer.alloc(16),
      });

      const { user, domain } = splitUser(creds);
      const responseKey = ntowfV2(creds.password, user, domain);
      const clientChallenge = opts.clientChallenge ?? randomBytes(8);
      const blob = clientBlob(timestamp, clientChallenge, encodeAvPairs(pairs));
      const r = computeV2Responses(responseKey, ch.serverChallenge, clientChallenge, blob);

      let encryptedKey: Buffer = Buffer.alloc(0);
      if (flags & NTLMSSP_NEGOTIATE_KEY_EXCH) {
        exported = opts.exportedSessionKey ?? randomBytes(16);
        encryptedKey = encryptSessionKey(r.sessionBaseKey, exported);
      } else {
        exported = r.sessionBaseKey;
      }
      const { message, micOffset } = buildAuthenticate({
        flags,
        // With a server timestamp the LMv2 response is sent as zeros (MS-NLMP 3.1.5.1.2).
        lmChallengeResponse: stamp ? Buffer.alloc(24) : r.lmChallengeResponse,
        ntChallengeResponse: r.ntChallengeResponse,
        domain,
        user,
        workstation: '',
        encryptedRandomSessionKey: encryptedKey,
      });
      if (stamp) hmacMd5(exported, negotiateMsg, challengeBytes, message).copy(message, micOffset);
      return message;
    },
    session() {
      if (!exported) throw new NtlmProtocolError('authenticate() must come first');
      return createNtlmSession(exported, false);
    },
  };
}
