import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Log } from '../log.ts';

/** The read-only role migration 0006 creates (NOLOGIN) for Grafana's data source. */
export const GRAFANA_READER_ROLE = 'nmslite_grafana';

const SCRAM_ITERATIONS = 4096;

/**
 * What PostgreSQL stores for a SCRAM-SHA-256 password (`SCRAM-SHA-256$iter:salt$StoredKey:ServerKey`,
 * RFC 5802/7677). Sending this instead of the password keeps the password itself out of the
 * database server's statement log and pg_stat_activity. Printable ASCII only (the config enforces
 * it), which SASLprep leaves unchanged, so the verifier matches what a client proves at login.
 */
export function scramSha256Verifier(password: string, salt: Buffer = randomBytes(16)): string {
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, SCRAM_ITERATIONS, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/**
 * Lets the reader role log in with `password` (a fresh verifier each start, so changing
 * NMSLITE_GRAFANA_DB_PASSWORD and restarting changes it). 'missing' when the role does not exist:
 * the migrating user could not create it (migration 0006 warned). Errors never carry the password.
 */
export async function enableGrafanaReader(url: string, password: string): Promise<'enabled' | 'missing'> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [GRAFANA_READER_ROLE]);
    if (r.rowCount === 0) return 'missing';
    const verifier = client.escapeLiteral(scramSha256Verifier(password));
    try {
      await client.query(`ALTER ROLE ${GRAFANA_READER_ROLE} LOGIN PASSWORD ${verifier}`);
    } catch (err) {
      throw new Error(`cannot set the password of the ${GRAFANA_READER_ROLE} role: ${(err as Error).message}`);
    }
    return 'enabled';
  } finally {
    await client.end();
  }
}

/** At start: nothing without a password; with one, the role may log in (logged without the password). */
export async function setupGrafanaReader(url: string, password: string | undefined, log: Log): Promise<void> {
  if (password === undefined) return;
  if ((await enableGrafanaReader(url, password)) === 'enabled')
    log.info(
      { role: GRAFANA_READER_ROLE },
      'Grafana reader role may log in (password from NMSLITE_GRAFANA_DB_PASSWORD)',
    );
  else
    log.warn(
      { role: GRAFANA_READER_ROLE },
      'NMSLITE_GRAFANA_DB_PASSWORD is set but the reader role does not exist (the database user may not create roles)',
    );
}
