import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { request } from 'node:https';
import { parseConfig, type ServerConfigInput } from '../../server/config.ts';
import { createLog } from '../../server/log.ts';
import { startServer, type RunningServer } from '../../server/server.ts';
import { startTestDatabase } from './db.ts';

/** HTTPS to the test server's self-signed certificate (verification off for this call only). */
export function httpsRequest(
  method: string,
  url: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: any; headers: Headers }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          /* keep text */
        }
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
        resolve({ status: res.statusCode ?? 0, body: parsed, headers: h });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

export const TEST_ADMIN = { username: 'admin', password: 'test-admin-password-1' };

export interface TestServer {
  server: RunningServer;
  url: string;
  port: number;
  dbUrl: string;
  /** Every log line the server wrote, for redaction checks. */
  logs: string[];
  token: string;
  api(
    method: string,
    path: string,
    body?: unknown,
    token?: string | null,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  /** Stops the server process part (not the database) and starts it again on the same port and data. */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** A real HTTPS server on a random port over a fresh embedded PostgreSQL. */
export async function startTestServer(
  overrides: Partial<Record<keyof ServerConfigInput, unknown>> = {},
): Promise<TestServer> {
  const db = await startTestDatabase();
  const dataDir = mkdtempSync('/tmp/nmslite-test-data-');
  chmodSync(dataDir, 0o755);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  const { agents, metrics, polling, ...rest } = overrides as Record<string, Record<string, unknown> | undefined>;
  const cfg = parseConfig({
    data_dir: dataDir,
    server: { host: '127.0.0.1', port: 0 },
    database: { url: db.url, pool_max: 10 },
    auth: {
      username: TEST_ADMIN.username,
      password: TEST_ADMIN.password,
      jwt_secret: randomBytes(32).toString('hex'),
      login_max_failures: 5,
    },
    master_key: randomBytes(32).toString('base64'),
    log: { level: 'info' },
    agents: { heartbeat_ms: 1000, ...agents },
    metrics: { latest_cache_ms: 0, writer_flush_ms: 20, ...metrics },
    polling: { ...polling },
    ...rest,
  });
  let server = await startServer(cfg, { log: createLog('info', sink) });
  const url = `https://127.0.0.1:${server.port}`;
  const api: TestServer['api'] = async (method, path, body, token) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    const t = token === undefined ? ts.token : token;
    if (t) headers.authorization = `Bearer ${t}`;
    return httpsRequest(
      method,
      `${url}${path}`,
      headers,
      body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    );
  };
  const ts: TestServer = {
    server,
    url,
    port: server.port,
    dbUrl: db.url,
    logs,
    token: '',
    api,
    async restart(downMs = 0) {
      const port = server.port;
      await server.stop();
      await new Promise((r) => setTimeout(r, downMs));
      server = await startServer(parseConfig({ ...cfg, server: { ...cfg.server, port } }), {
        log: createLog('info', sink),
      });
      ts.server = server;
    },
    async stop() {
      await server.stop();
      await db.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  const login = await api('POST', '/api/v1/auth/login', TEST_ADMIN, null);
  if (login.status !== 200) throw new Error(`test login failed: ${login.status}`);
  ts.token = login.body.token;
  return ts;
}
