import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { decodeJwt, SignJWT } from 'jose';
import { parseConfig } from '../../../server/config.ts';
import { createLog } from '../../../server/log.ts';
import { startServer, type RunningServer } from '../../../server/server.ts';
import { startTestDatabase, type TestDatabase } from '../../helpers/db.ts';
import { httpsRequest } from '../../helpers/server.ts';

const SECRET = 'a-known-jwt-secret-for-revocation-tests-0123456789';
const TTL_S = 3600;
let db: TestDatabase;
let dataDir: string;
let server: RunningServer;
let password = 'first-admin-password-1';

async function start(pw: string): Promise<void> {
  password = pw;
  server = await startServer(
    parseConfig({
      data_dir: dataDir,
      server: { host: '127.0.0.1', port: 0 },
      database: { url: db.url, pool_max: 4 },
      auth: { username: 'admin', password: pw, jwt_secret: SECRET, token_ttl_s: TTL_S },
      master_key: randomBytes(32).toString('base64'),
      log: { level: 'silent' },
    }),
    { log: createLog('silent') },
  );
}
const api = (method: string, path: string, token?: string, body?: unknown) =>
  httpsRequest(
    method,
    `https://127.0.0.1:${server.port}${path}`,
    {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body === undefined ? undefined : JSON.stringify(body),
  );
async function login(): Promise<string> {
  const r = await api('POST', '/api/v1/auth/login', undefined, { username: 'admin', password });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.token as string;
}
const works = async (token: string): Promise<number> => (await api('GET', '/api/v1/monitors', token)).status;

before(async () => {
  db = await startTestDatabase();
  dataDir = mkdtempSync('/tmp/nmslite-test-revoke-');
  await start(password);
});
after(async () => {
  await server.stop();
  await db.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('POST /auth/logout revokes every token issued so far, over REST', async () => {
  const a = await login();
  const b = await login();
  assert.equal(await works(a), 200);
  const r = await api('POST', '/api/v1/auth/logout', a);
  assert.equal(r.status, 204);
  assert.equal(await works(a), 401, 'the token that logged out');
  assert.equal(await works(b), 401, 'another token issued before the logout');
  assert.equal((await api('POST', '/api/v1/auth/logout', a)).status, 401, 'a revoked token cannot log out again');
  assert.equal(await works(await login()), 200, 'a new login works');
  assert.equal(statSync(join(dataDir, 'auth-epoch.json')).mode & 0o777, 0o600);
});

test('auth.logout over tRPC revokes too', async () => {
  const a = await login();
  const r = await httpsRequest(
    'POST',
    `https://127.0.0.1:${server.port}/trpc/auth.logout`,
    { authorization: `Bearer ${a}`, 'content-type': 'application/json' },
    '{}',
  );
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(await works(a), 401);
  const anon = await httpsRequest(
    'POST',
    `https://127.0.0.1:${server.port}/trpc/auth.logout`,
    { 'content-type': 'application/json' },
    '{}',
  );
  assert.equal(anon.status, 401, 'logout needs a valid token');
});

test('a token from before a logout stays revoked across a restart', async () => {
  const a = await login();
  assert.equal((await api('POST', '/api/v1/auth/logout', a)).status, 204);
  await server.stop();
  await start(password);
  assert.equal(await works(a), 401);
  assert.equal(await works(await login()), 200);
});

test('a new admin password revokes every token issued under the old one', async () => {
  const old = await login();
  assert.equal(await works(old), 200);
  await server.stop();
  await start('second-admin-password-2');
  assert.equal(await works(old), 401, 'a token issued before the password changed');
  assert.equal(await works(await login()), 200);
});

test('a correctly signed token with a lifetime over the maximum, another subject or no epoch is refused', async () => {
  const real = await login();
  const claims = decodeJwt(real);
  const key = new TextEncoder().encode(SECRET);
  const resign = (c: Record<string, unknown>) =>
    new SignJWT(c).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(key);
  assert.equal(await works(await resign({ ...claims })), 200, 'control: the same claims signed again');
  const now = Math.floor(Date.now() / 1000);
  const cases: Array<[string, Record<string, unknown>]> = [
    ['lifetime of 30 days', { ...claims, exp: (claims.iat as number) + 30 * 86400 }],
    ['issued in the future', { ...claims, iat: now + 3 * 3600, exp: now + 3 * 3600 + 60 }],
    ['no iat', { ...claims, iat: undefined }],
    ['unknown subject', { ...claims, sub: 'mallory' }],
    ['no epoch', { ...claims, ep: undefined }],
    ['another epoch', { ...claims, ep: Buffer.alloc(16, 1).toString('base64url') }],
  ];
  for (const [name, c] of cases) assert.equal(await works(await resign(JSON.parse(JSON.stringify(c)))), 401, name);
});
