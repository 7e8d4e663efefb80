import { compactDecrypt } from 'jose';
import type { KeyObject } from 'node:crypto';
import { CredentialPayload, type SealedCredential } from '../shared/protocol/index.ts';
import type { CollectCredential } from './collectors/collector.ts';

/**
 * Opens credentials sealed to this agent and keeps them in memory only, by profile id and
 * version: a changed profile arrives with a new version, and `invalidate` drops the old one.
 */
export function createCredentialCache(key: KeyObject) {
  const cache = new Map<number, { version: number; value: CollectCredential }>();
  return {
    async open(sealed: SealedCredential): Promise<CollectCredential> {
      const hit = cache.get(sealed.profile_id);
      if (hit && hit.version === sealed.version) return hit.value;
      const { plaintext } = await compactDecrypt(sealed.sealed, key);
      const p = CredentialPayload.parse(JSON.parse(Buffer.from(plaintext).toString('utf8')));
      const value: CollectCredential = { type: p.type, username: p.username, password: p.password, domain: p.domain, tls_verify: p.tls_verify, tls_fingerprint: p.tls_fingerprint };
      cache.set(sealed.profile_id, { version: sealed.version, value });
      return value;
    },
    invalidate(profileId: number): void {
      cache.delete(profileId);
    },
    size: () => cache.size,
  };
}
