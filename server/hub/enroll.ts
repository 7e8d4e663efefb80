import { createHash, createPublicKey } from 'node:crypto';
import type pg from 'pg';
import { z } from 'zod';
import { currentActor } from '../audit/actor.ts';
import { auditChanges } from '../audit/audit-log.ts';

export const EnrollRequest = z
  .object({
    token: z.string().min(10).max(200),
    sign_public_key: z.string().max(2000),
    seal_public_key: z.string().max(2000),
    hostname: z.string().max(255).optional(),
    version: z.string().max(50).optional(),
  })
  .strict();

export class EnrollRefused extends Error {
  override readonly name = 'EnrollRefused';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const hashEnrollmentToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

function checkKey(pem: string, type: 'ed25519' | 'x25519', field: string): string {
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== type) throw new Error('wrong type');
    return key.export({ type: 'spki', format: 'pem' }).toString();
  } catch {
    throw new EnrollRefused(400, 'VALIDATION_ERROR', `${field} must be an ${type} public key in SPKI PEM form`);
  }
}

/**
 * Redeems a one-time enrollment token: the row's token hash is cleared in the same UPDATE that
 * stores the keys, so a token works once even under concurrent attempts.
 */
export async function enrollAgent(pool: pg.Pool, input: unknown): Promise<{ agent_id: number; name: string }> {
  const parsed = EnrollRequest.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new EnrollRefused(
      400,
      'VALIDATION_ERROR',
      `invalid enrollment request: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(),
    );
  }
  const b = parsed.data;
  const signKey = checkKey(b.sign_public_key, 'ed25519', 'sign_public_key');
  const sealKey = checkKey(b.seal_public_key, 'x25519', 'seal_public_key');
  const hash = hashEnrollmentToken(b.token);
  const found = await pool.query<{ id: number; name: string; status: string; expired: boolean }>(
    'SELECT id, name, status, enrollment_expires_at < now() AS expired FROM agents WHERE enrollment_token_hash = $1',
    [hash],
  );
  const row = found.rows[0];
  if (!row)
    throw new EnrollRefused(
      401,
      'UNAUTHORIZED',
      'the enrollment token is not valid (unknown, already used, or revoked)',
    );
  if (row.expired)
    throw new EnrollRefused(401, 'UNAUTHORIZED', 'the enrollment token has expired; create a new one for this agent');
  if (row.status === 'disabled') throw new EnrollRefused(403, 'FORBIDDEN', 'this agent is disabled');
  // One statement: the enrolment and its audit entry commit together (the keys are named, not stored there).
  const changes = auditChanges(
    'agent',
    { status: row.status },
    { status: 'active', hostname: b.hostname ?? null, version: b.version ?? null },
    ['keys'],
  );
  const upd = await pool.query(
    `WITH u AS (
       UPDATE agents SET sign_public_key = $2, seal_public_key = $3, hostname = $4, version = $5,
              enrollment_token_hash = NULL, enrollment_expires_at = NULL, status = 'active',
              enrolled_at = now(), updated_at = now()
        WHERE id = $1 AND enrollment_token_hash = $6
       RETURNING id)
     INSERT INTO audit_log (actor, source_address, entity_type, entity_id, action, changes)
     SELECT $7, $8, 'agent', id, 'enroll', $9::jsonb FROM u`,
    [
      row.id,
      signKey,
      sealKey,
      b.hostname ?? null,
      b.version ?? null,
      hash,
      `agent: ${row.name}`,
      currentActor().address,
      JSON.stringify(changes),
    ],
  );
  if (upd.rowCount !== 1)
    throw new EnrollRefused(
      401,
      'UNAUTHORIZED',
      'the enrollment token is not valid (unknown, already used, or revoked)',
    );
  return { agent_id: row.id, name: row.name };
}
