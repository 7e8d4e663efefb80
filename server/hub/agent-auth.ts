import { createPublicKey, randomBytes, timingSafeEqual } from 'node:crypto';
import { decodeJwt, jwtVerify } from 'jose';
import type pg from 'pg';

export interface AuthenticatedAgent {
  id: number;
  name: string;
  seal_public_key: string;
}

export class AgentAuthError extends Error {
  override readonly name = 'AgentAuthError';
  constructor(
    message: string,
    readonly disabled = false,
  ) {
    super(message);
  }
}

/** A fresh challenge nonce: 32 random bytes, base64url (43 characters). */
export const createChallengeNonce = (): string => randomBytes(32).toString('base64url');

/**
 * Does the token answer this socket's challenge? Read unverified: the caller accepts the token only
 * if authenticateAgent then verifies its signature, which covers the nonce claim too.
 */
export function answersChallenge(token: string, nonce: string): boolean {
  let claimed: unknown;
  try {
    claimed = decodeJwt(token).nonce;
  } catch {
    return false;
  }
  if (typeof claimed !== 'string') return false;
  const a = Buffer.from(claimed);
  const b = Buffer.from(nonce);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Verifies the hello's EdDSA JWT against the public key the agent enrolled with. The subject is
 * read unverified only to find which key to check with. Freshness comes from the challenge nonce
 * (checked by the session with answersChallenge), not from the agent's clock: `iat` is not
 * checked, and a token that does carry `exp` or `nbf` gets 30 s of tolerance.
 */
export async function authenticateAgent(pool: pg.Pool, token: string): Promise<AuthenticatedAgent> {
  let sub: string | undefined;
  let nonce: unknown;
  try {
    ({ sub, nonce } = decodeJwt(token));
  } catch {
    throw new AgentAuthError('malformed agent token');
  }
  if (typeof nonce !== 'string') throw new AgentAuthError('agent token answers no challenge');
  const id = Number(sub);
  if (!Number.isInteger(id) || id <= 0) throw new AgentAuthError('agent token has no valid subject');
  const r = await pool.query<{
    id: number;
    name: string;
    status: string;
    sign_public_key: string | null;
    seal_public_key: string | null;
  }>('SELECT id, name, status, sign_public_key, seal_public_key FROM agents WHERE id = $1', [id]);
  const row = r.rows[0];
  if (!row?.sign_public_key || !row.seal_public_key) throw new AgentAuthError('unknown or unenrolled agent');
  if (row.status === 'disabled') throw new AgentAuthError('this agent is disabled', true);
  try {
    await jwtVerify(token, createPublicKey(row.sign_public_key), {
      algorithms: ['EdDSA'],
      audience: 'nmslite-agent-hub',
      requiredClaims: ['nonce'],
      clockTolerance: 30,
    });
  } catch {
    throw new AgentAuthError('agent token signature or claims are invalid');
  }
  return { id: row.id, name: row.name, seal_public_key: row.seal_public_key };
}
