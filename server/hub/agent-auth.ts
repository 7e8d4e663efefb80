import { createPublicKey } from 'node:crypto';
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

/**
 * Verifies the hello's EdDSA JWT against the public key the agent enrolled with. The subject is
 * read unverified only to find which key to check with.
 */
export async function authenticateAgent(pool: pg.Pool, token: string): Promise<AuthenticatedAgent> {
  let sub: string | undefined;
  try {
    sub = decodeJwt(token).sub;
  } catch {
    throw new AgentAuthError('malformed agent token');
  }
  const id = Number(sub);
  if (!Number.isInteger(id) || id <= 0) throw new AgentAuthError('agent token has no valid subject');
  const r = await pool.query<{ id: number; name: string; status: string; sign_public_key: string | null; seal_public_key: string | null }>(
    'SELECT id, name, status, sign_public_key, seal_public_key FROM agents WHERE id = $1',
    [id],
  );
  const row = r.rows[0];
  if (!row || !row.sign_public_key || !row.seal_public_key) throw new AgentAuthError('unknown or unenrolled agent');
  if (row.status === 'disabled') throw new AgentAuthError('this agent is disabled', true);
  try {
    await jwtVerify(token, createPublicKey(row.sign_public_key), { algorithms: ['EdDSA'], audience: 'nmslite-agent-hub', maxTokenAge: '5m', clockTolerance: 300 });
  } catch {
    throw new AgentAuthError('agent token signature or claims are invalid');
  }
  return { id: row.id, name: row.name, seal_public_key: row.seal_public_key };
}
