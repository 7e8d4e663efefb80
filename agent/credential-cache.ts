import { compactDecrypt } from 'jose';
import type { KeyObject } from 'node:crypto';
import { CredentialPayload, type SealedCredential } from '../shared/protocol/index.ts';

/** Profiles whose opened credential is kept (the least recently used goes first past it). */
export const MAX_OPEN_CREDENTIALS = 2_500;

/**
 * Opens credentials sealed to this agent and keeps them in memory only, by profile id and
 * version: a changed profile arrives with a new version, and `invalidate` drops the old one.
 * Polls that need a credential being opened wait for that one decryption instead of starting
 * their own; at most `max` profiles are kept, so profiles no longer used do not stay in memory.
 */
export function createCredentialCache(key: KeyObject, max = MAX_OPEN_CREDENTIALS) {
  const cache = new Map<number, { version: number; value: Promise<CredentialPayload> }>();

  const decrypt = async (sealed: SealedCredential): Promise<CredentialPayload> => {
    const { plaintext } = await compactDecrypt(sealed.sealed, key);
    const p = CredentialPayload.parse(JSON.parse(Buffer.from(plaintext).toString('utf8')));
    return {
      type: p.type,
      username: p.username,
      password: p.password,
      domain: p.domain,
      tls_verify: p.tls_verify,
      tls_fingerprint: p.tls_fingerprint,
    };
  };

  return {
    open(sealed: SealedCredential): Promise<CredentialPayload> {
      const hit = cache.get(sealed.profile_id);
      if (hit && hit.version === sealed.version) {
        cache.delete(sealed.profile_id);
        cache.set(sealed.profile_id, hit);
        return hit.value;
      }
      const entry = { version: sealed.version, value: decrypt(sealed) };
      cache.delete(sealed.profile_id);
      cache.set(sealed.profile_id, entry);
      // A credential that cannot be opened is not kept: the next poll tries again (and fails as data).
      entry.value.catch(() => {
        if (cache.get(sealed.profile_id) === entry) cache.delete(sealed.profile_id);
      });
      while (cache.size > max) cache.delete(cache.keys().next().value!);
      return entry.value;
    },
    invalidate(profileId: number): void {
      cache.delete(profileId);
    },
    size: () => cache.size,
  };
}
