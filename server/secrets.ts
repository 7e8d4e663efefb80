import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError, type ServerConfig } from './config.ts';

const SecretsFile = z.object({
  auth_password: z.string().min(8),
  jwt_secret: z.string().min(32),
  master_key: z.string().min(1),
  db_password: z.string().min(8),
});
type SecretsFile = z.infer<typeof SecretsFile>;

export interface ResolvedSecrets {
  authPassword: string;
  jwtSecret: string;
  masterKey: Buffer;
  dbPassword: string;
  /** Set only on the start that generated the admin password: printed once, never again. */
  generatedPassword?: string;
}

export function decodeMasterKey(raw: string): Buffer {
  const hex = /^[0-9a-fA-F]{64}$/.test(raw) ? Buffer.from(raw, 'hex') : undefined;
  const key = hex ?? Buffer.from(raw, 'base64');
  if (key.length !== 32)
    throw new ConfigError(
      'invalid setting master_key (NMSLITE_MASTER_KEY): must be 32 bytes as 64 hex digits or base64',
    );
  return key;
}

/**
 * Secrets from config; in the embedded default, the missing ones are generated once and kept in
 * <data_dir>/secrets.json (0600) so `npm start` needs no setup. With an external database every
 * secret must be configured.
 */
export function resolveSecrets(cfg: ServerConfig): ResolvedSecrets {
  const embedded = !cfg.database.url;
  const path = join(cfg.data_dir, 'secrets.json');
  let stored: SecretsFile | undefined;
  let generatedPassword: string | undefined;
  if (embedded) {
    mkdirSync(cfg.data_dir, { recursive: true, mode: 0o700 });
    const existingDb = existsSync(join(cfg.data_dir, 'postgres', 'PG_VERSION'));
    if (existsSync(path)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(readFileSync(path, 'utf8'));
      } catch {
        parsed = undefined;
      }
      const r = SecretsFile.safeParse(parsed);
      if (!r.success) {
        throw new ConfigError(
          `${path} is damaged (not the JSON this server wrote). Restore it from a backup: it holds the embedded database's password and the key that encrypts stored credentials` +
            (existingDb ? '' : '; with no database yet, deleting it generates new secrets'),
        );
      }
      stored = r.data;
    } else if (existingDb) {
      // New secrets cannot open the existing database (its password is in the lost file).
      throw new ConfigError(
        `${path} is missing but ${join(cfg.data_dir, 'postgres')} holds a database created with the secrets it had: restore the file from a backup (or move the data directory aside to start empty)`,
      );
    } else {
      generatedPassword = randomBytes(12).toString('base64url');
      stored = {
        auth_password: generatedPassword,
        jwt_secret: randomBytes(48).toString('base64url'),
        master_key: randomBytes(32).toString('base64'),
        db_password: randomBytes(18).toString('base64url'),
      };
      writeFileSync(path, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
      chmodSync(path, 0o600);
    }
  } else {
    for (const [setting, value] of [
      ['auth.password (AUTH_PASSWORD)', cfg.auth.password],
      ['auth.jwt_secret (JWT_SECRET)', cfg.auth.jwt_secret],
      ['master_key (NMSLITE_MASTER_KEY)', cfg.master_key],
    ] as const) {
      if (!value)
        throw new ConfigError(`missing setting ${setting}: required when DATABASE_URL points at an external database`);
    }
  }
  const usesGenerated = !cfg.auth.password;
  return {
    authPassword: cfg.auth.password ?? stored!.auth_password,
    jwtSecret: cfg.auth.jwt_secret ?? stored!.jwt_secret,
    masterKey: decodeMasterKey(cfg.master_key ?? stored!.master_key),
    dbPassword: stored?.db_password ?? '',
    ...(generatedPassword && usesGenerated ? { generatedPassword } : {}),
  };
}
