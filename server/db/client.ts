import pg from 'pg';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import * as schema from './schema.ts';

// int8 columns (byte counts) arrive as strings by default; every value we store fits in 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

export type Db = NodePgDatabase<typeof schema>;

/** `max`: database.pool_max. */
export function createDb(url: string, max: number): { pool: pg.Pool; db: Db } {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', () => {
    /* an idle client died (e.g. database restart); the pool replaces it */
  });
  return { pool, db: drizzle(pool, { schema }) };
}
