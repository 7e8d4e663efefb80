import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { compactDecrypt } from 'jose';
import { createCredentialSealer, type CredentialSource } from './credential-sealer.ts';

const source: CredentialSource = {
  reveal: async (id) => ({
    row: {
      id,
      type: 'winrm_ntlm',
      username: 'svc',
      domain: null,
      tls_verify: 'verify',
      tls_fingerprint: null,
      version: 1,
    },
    password: 'Pa55-word',
  }),
};
const x25519 = () =>
  generateKeyPairSync('x25519', {
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });

test('a credential is sealed to the key the agent has now: after re-enrolment the cached copy for the old key is not reused', async () => {
  const first = x25519();
  const second = x25519();
  let current = first.publicKey;
  const sealer = createCredentialSealer(source, () => current);
  const a = await sealer.seal(7, 3);
  assert.equal(await sealer.seal(7, 3), a, 'cached while the key is the same');
  current = second.publicKey;
  const b = await sealer.seal(7, 3);
  assert.notEqual(b.sealed, a.sealed, 'sealed again');
  const { plaintext } = await compactDecrypt(b.sealed, createPrivateKey(second.privateKey));
  assert.equal(JSON.parse(new TextDecoder().decode(plaintext)).password, 'Pa55-word', 'the new key opens it');
});
