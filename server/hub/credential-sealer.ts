import type { SealedCredential } from '../../shared/protocol/index.ts';
import { createHash } from 'node:crypto';
import { sealCredential } from './seal.ts';

const keyTag = (pem: string): string => createHash('sha256').update(pem).digest('base64url').slice(0, 16);

export interface CredentialSource {
  reveal(id: number): Promise<{
    row: {
      id: number;
      type: 'winrm_basic' | 'winrm_ntlm';
      username: string;
      domain: string | null;
      tls_verify: 'verify' | 'pin' | 'insecure';
      tls_fingerprint: string | null;
      version: number;
    };
    password: string;
  }>;
}

/**
 * Seals each (agent key, profile, version) once and reuses the JWE: ECDH per job would cost more than
 * the poll. A profile change bumps its version, so stale entries are simply never asked for again.
 */
export function createCredentialSealer(source: CredentialSource, sealKeyOf: (agentId: number) => string | undefined) {
  const cache = new Map<string, Promise<SealedCredential>>();
  const entryKey = (agentId: number, profileId: number, version: number, sealKey: string) =>
    `${agentId}:${profileId}:${version}:${keyTag(sealKey)}`;
  const seal = async (agentId: number, profileId: number): Promise<SealedCredential> => {
    const { row, password } = await source.reveal(profileId);
    const sealKey = sealKeyOf(agentId);
    if (!sealKey) throw new Error('agent has no sealing key (not connected)');
    // The agent's key is part of the entry: an agent that enrolled again has a new one.
    const key = entryKey(agentId, profileId, row.version, sealKey);
    let hit = cache.get(key);
    if (!hit) {
      hit = sealCredential(sealKey, {
        type: row.type,
        username: row.username,
        password,
        domain: row.domain,
        tls_verify: row.tls_verify,
        tls_fingerprint: row.tls_fingerprint,
      }).then((sealed) => ({ profile_id: profileId, version: row.version, sealed }));
      cache.set(key, hit);
      hit.catch(() => cache.delete(key));
      if (cache.size > 50_000) cache.delete(cache.keys().next().value!);
    }
    return hit;
  };
  return {
    seal,
    /**
     * The credential at a known version: from the cache without reading the profile when that
     * version was sealed for this key before (a schedule names thousands of monitors, few profiles).
     */
    async sealRef(agentId: number, ref: { profile_id: number; version: number }): Promise<SealedCredential> {
      const sealKey = sealKeyOf(agentId);
      const hit = sealKey ? cache.get(entryKey(agentId, ref.profile_id, ref.version, sealKey)) : undefined;
      return hit ?? seal(agentId, ref.profile_id);
    },
    forgetProfile(profileId: number): void {
      for (const k of cache.keys()) if (k.split(':')[1] === String(profileId)) cache.delete(k);
    },
  };
}
export type CredentialSealer = ReturnType<typeof createCredentialSealer>;
