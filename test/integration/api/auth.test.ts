import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, UnsecuredJWT } from 'jose';
import { startTestServer, TEST_ADMIN, type TestServer } from '../../helpers/server.ts';

const SECRET = 'a-known-jwt-secret-for-these-tests-0123456789';
let s: TestServer;
before(async () => {
  s = await startTestServer({ auth: { ...TEST_ADMIN, jwt_secret: SECRET, login_max_failures: 3, login_window_s: 60 } });
});
after(() => s.stop());

const key = new TextEncoder().encode(SECRET);

test('health needs no token and reports the storage mode', async () => {
  const r = await s.api('GET', '/api/v1/health', undefined, null);
  assert.equal(r.status, 200);
  assert.equal(r.body.status, 'ok');
  assert.equal(r.body.storage_mode, 'plain');
});

test('login returns a 24 h JWT that opens the API', async () => {
  const r = await s.api('POST', '/api/v1/auth/login', TEST_ADMIN, null);
  assert.equal(r.status, 200);
  const ttl = Date.parse(r.body.expires_at) - Date.now();
  assert.ok(ttl > 23.9 * 3600_000 && ttl <= 24 * 3600_000, `ttl ${ttl}`);
  assert.equal((await s.api('GET', '/api/v1/monitors', undefined, r.body.token)).status, 200);
});

test('every route but health and login refuses a missing token with 401 and the error shape', async () => {
  for (const path of [
    '/api/v1/monitors',
    '/api/v1/devices',
    '/api/v1/plugins',
    '/api/v1/agents',
    '/api/v1/credential-profiles',
    '/api/v1/discovery-profiles',
  ]) {
    const r = await s.api('GET', path, undefined, null);
    assert.equal(r.status, 401, path);
    assert.equal(r.body.error.code, 'UNAUTHORIZED');
    assert.equal(typeof r.body.error.message, 'string');
  }
});

test('tampered, expired, alg none and wrong-secret tokens get 401', async () => {
  const good = (await s.api('POST', '/api/v1/auth/login', TEST_ADMIN, null)).body.token as string;
  const [h, p, sig] = good.split('.');
  const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
  const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: 'mallory' })).toString('base64url')}.${sig}`;
  const expired = await new SignJWT({ role: 'admin' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('admin')
    .setIssuer('nmslite')
    .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
    .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
    .sign(key);
  const none = new UnsecuredJWT({ role: 'admin' })
    .setSubject('admin')
    .setIssuer('nmslite')
    .setExpirationTime('1h')
    .encode();
  const wrong = await new SignJWT({ role: 'admin' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('admin')
    .setIssuer('nmslite')
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode('another-secret-another-secret-another-secret'));
  const forever = await new SignJWT({ role: 'admin' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('admin')
    .setIssuer('nmslite')
    .sign(key);
  // Signed with the right secret but made without a login: it lacks the revocation epoch.
  const noEpoch = await new SignJWT({ role: 'admin' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('admin')
    .setIssuer('nmslite')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(key);
  for (const [name, tok] of [
    ['tampered', tampered],
    ['expired', expired],
    ['alg none', none],
    ['wrong secret', wrong],
    ['no expiry', forever],
    ['no epoch', noEpoch],
    ['garbage', 'abc.def'],
  ] as const) {
    const r = await s.api('GET', '/api/v1/monitors', undefined, tok);
    assert.equal(r.status, 401, name);
  }
  assert.equal((await s.api('GET', '/api/v1/monitors', undefined, good)).status, 200, 'the token from the login works');
});

test('a wrong password is 401; repeated failures from one address get 429 with Retry-After', async () => {
  const bad = { username: 'admin', password: 'nope-nope' };
  for (let i = 0; i < 3; i++) assert.equal((await s.api('POST', '/api/v1/auth/login', bad, null)).status, 401);
  const r = await s.api('POST', '/api/v1/auth/login', TEST_ADMIN, null);
  assert.equal(r.status, 429);
  assert.equal(r.body.error.code, 'RATE_LIMITED');
  assert.ok(Number(r.headers.get('retry-after')) > 0);
});

test('the tRPC endpoint uses the same auth', async () => {
  const r = await s.api('GET', '/trpc/monitors.list?input=%7B%7D', undefined, null);
  assert.equal(r.status, 401);
  const ok = await s.api('GET', '/trpc/health.get', undefined, null);
  assert.equal(ok.status, 200);
  assert.equal(ok.body.result.data.status, 'ok');
});
