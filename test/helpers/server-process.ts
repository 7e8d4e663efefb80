import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { freePort, startTestDatabase } from './db.ts';
import { httpsRequest, TEST_ADMIN } from './server.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
/** How long a start may take before it counts as failed (tsx compiles the server on every start). */
const START_TIMEOUT_MS = 120_000;

export interface ServerProcess {
  /** https://127.0.0.1:PORT — the same on every start. */
  readonly url: string;
  /** wss://127.0.0.1:PORT for `nmslite-agent enroll --server`. */
  readonly wsUrl: string;
  readonly port: number;
  readonly dbUrl: string;
  readonly dataDir: string;
  /** Every line the server processes wrote (all starts), for failure messages and log checks. */
  readonly logs: string[];
  /** The TLS certificate fingerprint printed at the last start (kept in dataDir, so stable). */
  fingerprint: string;
  token: string;
  readonly running: boolean;
  /** The server's pid while running (for `kill`). */
  readonly pid: number | undefined;
  api(
    method: string,
    path: string,
    body?: unknown,
    token?: string | null,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  /** Starts the server again on the same port, database and data directory; resolves once it listens. */
  start(): Promise<void>;
  /** Sends the signal and waits for the process to exit (SIGKILL: no shutdown code runs). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Kills the server (if running), drops the database and the data directory. */
  stop(): Promise<void>;
}

/** Environment for the child: the caller's, minus anything that would reconfigure the server behind our back. */
function childEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (
      v === undefined ||
      k.startsWith('NMSLITE_') ||
      k === 'DATABASE_URL' ||
      k.startsWith('AUTH_') ||
      k === 'JWT_SECRET'
    )
      continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/**
 * `node --import tsx server/main.ts` as a real child process over a test database that outlives it,
 * so a test can SIGKILL the server and start it again on the same port with the same data: the
 * agent's pinned certificate fingerprint (kept in the data dir) and the admin token stay valid.
 * `env` adds or overrides NMSLITE_* settings (e.g. NMSLITE_POLLING_GRACE_S).
 */
export async function startServerProcess(o: { env?: Record<string, string> } = {}): Promise<ServerProcess> {
  const db = await startTestDatabase();
  const dataDir = mkdtempSync('/tmp/nmslite-srvproc-');
  chmodSync(dataDir, 0o700);
  const port = await freePort();
  const env = childEnv({
    DATABASE_URL: db.url,
    AUTH_USERNAME: TEST_ADMIN.username,
    AUTH_PASSWORD: TEST_ADMIN.password,
    JWT_SECRET: randomBytes(32).toString('hex'),
    NMSLITE_MASTER_KEY: randomBytes(32).toString('base64'),
    NMSLITE_DATA_DIR: dataDir,
    NMSLITE_SERVER_HOST: '127.0.0.1',
    NMSLITE_SERVER_PORT: String(port),
    NMSLITE_LOG_LEVEL: 'info',
    NMSLITE_AGENTS_HEARTBEAT_MS: '1000',
    NMSLITE_METRICS_LATEST_CACHE_MS: '0',
    NMSLITE_METRICS_WRITER_FLUSH_MS: '20',
    NMSLITE_DATABASE_POOL_MAX: '10',
    ...o.env,
  });
  const logs: string[] = [];
  let child: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);
  const url = `https://127.0.0.1:${port}`;

  const api: ServerProcess['api'] = (method, path, body, token) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    const t = token === undefined ? sp.token : token;
    if (t) headers.authorization = `Bearer ${t}`;
    return httpsRequest(
      method,
      `${url}${path}`,
      headers,
      body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    );
  };

  const start = async (): Promise<void> => {
    if (child) throw new Error('the server process is already running');
    const c = spawn(process.execPath, ['--import', 'tsx', MAIN], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    exited = new Promise((r) => c.once('exit', (code) => r(code)));
    void exited.then(() => {
      if (child === c) child = undefined;
    });
    let buffered = '';
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      logs.push(...lines.filter(Boolean));
    };
    c.stdout!.on('data', onData);
    c.stderr!.on('data', onData);
    const startedAt = Date.now();
    const from = logs.length;
    while (true) {
      const up = logs.slice(from).find((l) => l.startsWith('NMSlite is up at '));
      const fp = logs.slice(from).find((l) => l.startsWith('TLS certificate SHA-256 fingerprint: '));
      if (up && fp) {
        sp.fingerprint = fp.slice('TLS certificate SHA-256 fingerprint: '.length).replace(/:/g, '').toLowerCase();
        return;
      }
      if (child !== c) throw new Error(`the server exited during start:\n${logs.slice(from).slice(-30).join('\n')}`);
      if (Date.now() - startedAt > START_TIMEOUT_MS) {
        c.kill('SIGKILL');
        await exited;
        throw new Error(
          `the server did not start within ${START_TIMEOUT_MS} ms:\n${logs.slice(from).slice(-30).join('\n')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const c = child;
    if (!c) return;
    c.kill(signal);
    await exited;
  };

  const sp: ServerProcess = {
    url,
    wsUrl: `wss://127.0.0.1:${port}`,
    port,
    dbUrl: db.url,
    dataDir,
    logs,
    fingerprint: '',
    token: '',
    get running() {
      return child !== undefined;
    },
    get pid() {
      return child?.pid;
    },
    api,
    start,
    kill,
    async stop() {
      await kill('SIGKILL');
      await db.stop().catch(() => {});
      rmSync(dataDir, { recursive: true, force: true });
    },
  };

  try {
    await start();
    const login = await api('POST', '/api/v1/auth/login', TEST_ADMIN, null);
    if (login.status !== 200) throw new Error(`test login failed: ${login.status} ${JSON.stringify(login.body)}`);
    sp.token = login.body.token;
  } catch (err) {
    await sp.stop();
    throw err;
  }
  return sp;
}
