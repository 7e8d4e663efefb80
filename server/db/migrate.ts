import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

/**
 * Makes `metrics` a hypertable whenever TimescaleDB can be used: migration 0001's first statement
 * (idempotent), read from the migration itself so the two cannot drift apart.
 */
const ENSURE_HYPERTABLE = readFileSync(join(MIGRATIONS_DIR, '0001_storage_and_seeds.sql'), 'utf8').split('--> statement-breakpoint')[0]!;
if (!ENSURE_HYPERTABLE.includes('create_hypertable')) throw new Error('migration 0001 no longer starts with the hypertable statement');

/** 'timescaledb' only when `metrics` really is a hypertable, not merely when the extension exists. */
const STORAGE_MODE_FUNCTION = `
CREATE OR REPLACE FUNCTION nmslite_storage_mode() RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
  hyper boolean := false;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = ''metrics'')' INTO hyper;
  END IF;
  RETURN CASE WHEN hyper THEN 'timescaledb' ELSE 'plain' END;
END
$$`;

/** Applies pending migrations on one dedicated connection, before any pool is used. */
export async function runMigrations(url: string): Promise<'timescaledb' | 'plain'> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SET client_min_messages = warning');
    await migrate(drizzle(client), { migrationsFolder: MIGRATIONS_DIR });
    // On every start, not once: a database restored into a TimescaleDB server (say, from a plain
    // one) has its migrations recorded already but `metrics` is still a plain table.
    await client.query(ENSURE_HYPERTABLE);
    await client.query(STORAGE_MODE_FUNCTION);
    const r = await client.query<{ mode: 'timescaledb' | 'plain' }>('SELECT nmslite_storage_mode() AS mode');
    return r.rows[0]!.mode;
  } finally {
    await client.end();
  }
}
