import { generateKeyPairSync, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomicSync } from './atomic-file.ts';
import { z } from 'zod';

/** What `enroll` writes and `run` reads: the agent's keys and the server it trusts. Mode 0600. */
export const AgentIdentity = z
  .object({
    agent_id: z.number().int().positive(),
    name: z.string(),
    server: z.string().url(),
    /** SHA-256 of the server's TLS certificate (hex, no colons), pinned at enrollment. */
    server_fingerprint: z.string().regex(/^[0-9a-f]{64}$/),
    sign_private_key: z.string().includes('PRIVATE KEY'),
    sign_public_key: z.string().includes('PUBLIC KEY'),
    seal_private_key: z.string().includes('PRIVATE KEY'),
    seal_public_key: z.string().includes('PUBLIC KEY'),
    enrolled_at: z.string(),
  })
  .strict();
export type AgentIdentity = z.infer<typeof AgentIdentity>;

export interface AgentKeys {
  sign_private_key: string;
  sign_public_key: string;
  seal_private_key: string;
  seal_public_key: string;
}

/** Ed25519 proves the agent's identity (JWT); X25519 receives credentials sealed to it (JWE). */
export function generateAgentKeys(): AgentKeys {
  const sign = generateKeyPairSync('ed25519', {
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const seal = generateKeyPairSync('x25519', {
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return {
    sign_private_key: sign.privateKey,
    sign_public_key: sign.publicKey,
    seal_private_key: seal.privateKey,
    seal_public_key: seal.publicKey,
  };
}

export class IdentityError extends Error {
  override readonly name = 'IdentityError';
}

export function loadIdentity(path: string): AgentIdentity {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch {
    throw new IdentityError(
      `no agent identity at ${path}: run 'nmslite-agent enroll --server wss://HOST:8443 --token TOKEN' first`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new IdentityError(`the agent identity at ${path} is not valid JSON`);
  }
  const r = AgentIdentity.safeParse(json);
  if (!r.success)
    throw new IdentityError(
      `the agent identity at ${path} is invalid (${r.error.issues[0]?.path.join('.')}); enroll again`,
    );
  return r.data;
}

export function saveIdentity(path: string, id: AgentIdentity): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileAtomicSync(path, `${JSON.stringify(id, null, 2)}\n`);
}

export const signingKey = (id: AgentIdentity): KeyObject => createPrivateKey(id.sign_private_key);
export const sealingKey = (id: AgentIdentity): KeyObject => createPrivateKey(id.seal_private_key);
