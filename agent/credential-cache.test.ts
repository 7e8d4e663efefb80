import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { CompactEncrypt } from 'jose';
import type { SealedCredential } from '../shared/protocol/index.ts';
import { createCredentialCache } from './credential-cache.ts';
import { generateAgentKeys, sealingKey, type AgentIdentity } from './identity.ts';

const keys = generateAgentKeys();
const identity = {
  agent_id: 1,
  name: 'c',
  server: 'wss://x',
  server_fingerprint: 'ab',
  enrolled_at: '',
  ...keys,
} as AgentIdentity;

async function seal(profileId: number, version: number, username: string): Promise<SealedCredential> {
  const payload = {
    type: 'winrm_ntlm',
    username,
    password: 'pw',
    domain: null,
    tls_verify: 'insecure',
    tls_fingerprint: null,
  };
  const sealed = await new CompactEncrypt(Buffer.from(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM' })
    .encrypt(createPublicKey(keys.seal_public_key));
  return { profile_id: profileId, version, sealed };
}

test('polls opening the same credential at once share one decryption', async () => {
  const cache = createCredentialCache(sealingKey(identity));
  const s = await seal(1, 0, 'alice');
  const opened = await Promise.all(Array.from({ length: 50 }, () => cache.open(s)));
  assert.ok(
    opened.every((c) => c === opened[0]),
    'one opened value for all',
  );
  assert.equal(opened[0]!.username, 'alice');
  const changed = await cache.open(await seal(1, 1, 'bob'));
  assert.equal(changed.username, 'bob', 'a new version is opened again');
});

test('the cache keeps at most its limit of profiles, dropping the least recently used, and forgets one that cannot be opened', async () => {
  const cache = createCredentialCache(sealingKey(identity), 3);
  const sealed = await Promise.all([1, 2, 3, 4].map((id) => seal(id, 0, `u${id}`)));
  for (const s of sealed.slice(0, 3)) await cache.open(s);
  await cache.open(sealed[0]!); // 1 used again: 2 is now the least recent
  await cache.open(sealed[3]!);
  assert.equal(cache.size(), 3);
  const first = await cache.open(sealed[0]!);
  assert.equal(first.username, 'u1');
  await assert.rejects(cache.open({ profile_id: 9, version: 0, sealed: 'not-a-jwe' }));
  assert.equal(
    cache.size(),
    2,
    "the broken one is not kept (it took the least recent one's place while it was being opened)",
  );
});
