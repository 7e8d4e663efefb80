import { createPublicKey } from 'node:crypto';
import { CompactEncrypt } from 'jose';
import type { CredentialPayload } from '../../shared/protocol/index.ts';

/** Seals a credential to one agent's X25519 key (JWE, ECDH-ES + A256GCM): only that agent can open it. */
export async function sealCredential(sealPublicKeyPem: string, payload: CredentialPayload): Promise<string> {
  return new CompactEncrypt(Buffer.from(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', cty: 'nmslite-credential' })
    .encrypt(createPublicKey(sealPublicKeyPem));
}
