import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Credential-profile passwords at rest: AES-256-GCM with a fresh 12-byte IV per value, stored as
 * `v1:<key id>:<iv>:<tag>:<ciphertext>` (base64). The key id (a hash prefix of the master key)
 * lets a later key rotation tell which key sealed which row. Decrypted only on use.
 */
export interface Vault {
  keyId: string;
  encrypt(plain: string): string;
  decrypt(stored: string): string;
}

export function createVault(masterKey: Buffer): Vault {
  if (masterKey.length !== 32) throw new Error('the master key must be 32 bytes');
  const keyId = createHash('sha256').update(masterKey).digest('hex').slice(0, 12);
  return {
    keyId,
    encrypt(plain) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', masterKey, iv);
      const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
      return ['v1', keyId, iv.toString('base64'), c.getAuthTag().toString('base64'), ct.toString('base64')].join(':');
    },
    decrypt(stored) {
      const [v, kid, iv, tag, ct] = stored.split(':');
      if (v !== 'v1' || !iv || !tag || ct === undefined) throw new Error('unrecognised encrypted value');
      if (kid !== keyId) throw new Error(`value was encrypted with another master key (${kid})`);
      const d = createDecipheriv('aes-256-gcm', masterKey, Buffer.from(iv, 'base64'));
      d.setAuthTag(Buffer.from(tag, 'base64'));
      return Buffer.concat([d.update(Buffer.from(ct, 'base64')), d.final()]).toString('utf8');
    },
  };
}
