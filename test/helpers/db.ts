import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../../server/db/embedded.ts';
import { runMigrations } from '../../server/db/migrate.ts';

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

/** A fresh embedded PostgreSQL with the project's migrations applied; `stop` removes it. */
export async function startTestDatabase(): Promise<{ url: string; dir: string; stop(): Promise<void> }> {
  const dir = mkdtempSync('/tmp/nmslite-testdb-');
  chmodSync(dir, 0o755);
  const db = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), port: await freePort(), password: 'test-db-password' });
  await runMigrations(db.url);
  return {
    url: db.url,
    dir,
    async stop() {
      await db.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
