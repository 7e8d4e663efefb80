import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../server/db/embedded.ts';
import { runMigrations } from '../../server/db/migrate.ts';
import { skipUnlessRequired } from './skip.ts';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * The two storage backends every storage test runs against: the embedded plain PostgreSQL (always
 * there) and TimescaleDB, a fresh database per test file on the cluster NMSLITE_TEST_TIMESCALE_URL
 * names (a superuser URL; `bash ../shared/tools/timescaledb.sh` starts one and prints it).
 */
export type TestBackend = 'plain' | 'timescaledb';
export const TEST_BACKENDS: readonly TestBackend[] = ['plain', 'timescaledb'];
export const TIMESCALE_URL_ENV = 'NMSLITE_TEST_TIMESCALE_URL';

export interface TestDatabase {
  url: string;
  /** A scratch directory that `stop` removes (the embedded cluster's data lives in it). */
  dir: string;
  backend: TestBackend;
  mode: 'timescaledb' | 'plain';
  stop(): Promise<void>;
}

const backendScope = new AsyncLocalStorage<TestBackend>();

/**
 * Runs `fn` with `backend` as the default of every startTestDatabase() called inside it, however
 * deep: `await withTestBackend('timescaledb', () => startTestServer())` gives a test server on
 * TimescaleDB without that helper knowing about backends.
 */
export function withTestBackend<T>(backend: TestBackend, fn: () => T): T {
  return backendScope.run(backend, fn);
}

/** Why the TimescaleDB variant cannot run here (the one line a skipped suite prints), or undefined. */
export function timescaleSkipReason(): string | undefined {
  if (process.env[TIMESCALE_URL_ENV]) return undefined;
  return `TimescaleDB variant skipped: ${TIMESCALE_URL_ENV} is not set (run \`bash ../shared/tools/timescaledb.sh\` and export the URL it prints, or any TimescaleDB 2.x superuser URL)`;
}

export const backendLabel = (b: TestBackend): string => (b === 'plain' ? 'on plain PostgreSQL' : 'on TimescaleDB');

/**
 * Declares the suite `body` once per backend, each a describe() of its own with its own hooks:
 *
 *   forEachBackend((backend) => {
 *     let db: TestDatabase;
 *     before(async () => { db = await startTestDatabase({ backend }); });
 *     after(() => db.stop());
 *     test('...', async () => { ... });
 *   });
 *
 * The TimescaleDB suite is skipped with one line when NMSLITE_TEST_TIMESCALE_URL is unset (and fails
 * instead under NMSLITE_TEST_REQUIRE_ALL=1); when it is set but unreachable, its `before` fails.
 */
export function forEachBackend(body: (backend: TestBackend) => void): void {
  for (const backend of TEST_BACKENDS) {
    const skip = backend === 'timescaledb' ? skipUnlessRequired(timescaleSkipReason()) : undefined;
    describe(backendLabel(backend), skip ? { skip } : {}, () => body(backend));
  }
}

/** Databases this helper created and a killed run left behind are dropped after this long. */
const STALE_TEST_DB_MS = 6 * 3600_000;

async function createTimescaleDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = process.env[TIMESCALE_URL_ENV];
  if (!admin)
    throw new Error(
      `${TIMESCALE_URL_ENV} is not set: a TimescaleDB test needs it (bash ../shared/tools/timescaledb.sh prints one)`,
    );
  let base: URL;
  try {
    base = new URL(admin);
  } catch {
    throw new Error(`${TIMESCALE_URL_ENV} is not a URL like postgres://postgres@127.0.0.1:55432/postgres`);
  }
  const safe = `${base.protocol}//${base.host}${base.pathname}`;
  const client = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 30_000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `${TIMESCALE_URL_ENV} is set (${safe}) but TimescaleDB cannot be reached: ${(err as Error).message}`,
    );
  }
  const name = `nmslite_test_${Date.now()}_${randomBytes(4).toString('hex')}`;
  try {
    const ok = await client.query(
      "SELECT current_setting('shared_preload_libraries') ILIKE '%timescaledb%' AS preloaded, EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS available",
    );
    if (!ok.rows[0].available || !ok.rows[0].preloaded)
      throw new Error(
        `${TIMESCALE_URL_ENV} (${safe}) is a PostgreSQL without TimescaleDB preloaded (shared_preload_libraries)`,
      );
    const stale = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname ~ '^nmslite_test_[0-9]+_[0-9a-f]+$'",
    );
    for (const { datname } of stale.rows) {
      if (Date.now() - Number(datname.split('_')[2]) > STALE_TEST_DB_MS)
        await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => {});
    }
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 30_000 });
      await c.connect();
      try {
        // FORCE: TimescaleDB's scheduler and policy workers hold connections to it.
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * A fresh database with the project's migrations applied; `stop` removes it. `backend` defaults to
 * the one withTestBackend() set around the call, else plain (an embedded PostgreSQL of its own).
 * `migrate: false` leaves it empty (for tests of the migrations themselves).
 */
export async function startTestDatabase(o: { backend?: TestBackend; migrate?: boolean } = {}): Promise<TestDatabase> {
  const backend = o.backend ?? backendScope.getStore() ?? 'plain';
  const dir = mkdtempSync('/tmp/nmslite-testdb-');
  chmodSync(dir, 0o755);
  if (backend === 'timescaledb') {
    let created: Awaited<ReturnType<typeof createTimescaleDatabase>>;
    try {
      created = await createTimescaleDatabase();
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    let mode: 'timescaledb' | 'plain' = 'timescaledb';
    if (o.migrate !== false) {
      mode = await runMigrations(created.url);
      if (mode !== 'timescaledb') {
        await created.drop();
        throw new Error(
          `migrations on ${TIMESCALE_URL_ENV} reported '${mode}' storage: metrics did not become a hypertable`,
        );
      }
    }
    return {
      url: created.url,
      dir,
      backend,
      mode,
      async stop() {
        await created.drop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const db = await startEmbeddedPostgres({
    dataDir: join(dir, 'pg'),
    port: await freePort(),
    password: 'test-db-password',
  });
  const mode = o.migrate === false ? 'plain' : await runMigrations(db.url);
  return {
    url: db.url,
    dir,
    backend,
    mode,
    async stop() {
      await db.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Registers `before` (a fresh test database of `backend`, a pg.Pool of `max` connections on it, both handed
 * to `set`, pool first) and `after` (the pool ended, the database stopped).
 */
export function usePooledDatabase(
  o: { backend?: TestBackend; max: number },
  set: (pool: pg.Pool, db: TestDatabase) => void,
): void {
  let db: TestDatabase | undefined;
  let pool: pg.Pool | undefined;
  before(async () => {
    db = await startTestDatabase(o.backend ? { backend: o.backend } : {});
    pool = new pg.Pool({ connectionString: db.url, max: o.max });
    set(pool, db);
  });
  after(async () => {
    await pool?.end();
    await db?.stop();
  });
}
