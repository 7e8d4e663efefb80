import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

/** The first statement of a migration, which is also run on every start (it must be idempotent). */
function firstStatement(file: string, mustInclude: string): string {
  const sql = readFileSync(join(MIGRATIONS_DIR, file), 'utf8').split('--> statement-breakpoint')[0]!;
  if (!sql.includes(mustInclude))
    throw new Error(`migration ${file} no longer starts with its ${mustInclude} statement`);
  return sql;
}

/**
 * Run on every start, not once, read from the migrations themselves so the two cannot drift apart:
 * makes `metrics` a hypertable whenever TimescaleDB can be used (0001); ensures the compact columns,
 * the `metrics_values` view, the continuous aggregates in their current definition and the trigger
 * that removes a deleted monitor's aggregate rows (0008, which supersedes 0002's definition); the
 * aggregates' per-bucket top-CPU indexes (0005); and the Grafana reader role's grants and metric
 * functions (0006, last: it grants again on whatever 0008 rebuilt). A database restored into a
 * TimescaleDB server (say, from a plain one) has its migrations recorded already but `metrics` is
 * still a plain table.
 */
const ENSURE_ON_START = [
  firstStatement('0001_storage_and_seeds.sql', 'create_hypertable'),
  firstStatement('0008_metrics_compact_columns.sql', 'metrics_5m'),
  firstStatement('0005_metrics_top_cpu_indexes.sql', 'metrics_1h_bucket_cpu_max_top'),
  firstStatement('0006_grafana_reader.sql', 'nmslite_grafana'),
];

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
    for (const sql of ENSURE_ON_START) await client.query(sql);
    await client.query(STORAGE_MODE_FUNCTION);
    const r = await client.query<{ mode: 'timescaledb' | 'plain' }>('SELECT nmslite_storage_mode() AS mode');
    return r.rows[0]!.mode;
  } finally {
    await client.end();
  }
}
