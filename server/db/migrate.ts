import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

/** Applies pending migrations on one dedicated connection, before any pool is used. */
export async function runMigrations(url: string): Promise<'timescaledb' | 'plain'> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SET client_min_messages = warning');
    await migrate(drizzle(client), { migrationsFolder: MIGRATIONS_DIR });
    const r = await client.query<{ mode: 'timescaledb' | 'plain' }>('SELECT nmslite_storage_mode() AS mode');
    return r.rows[0]!.mode;
  } finally {
    await client.end();
  }
}
