import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:https';
import { startTestServer, TEST_ADMIN, type TestServer } from '../../helpers/server.ts';

/** A POST from a chosen loopback source address (all of 127/8 is local on Linux). */
function postFrom(
  s: TestServer,
  from: string,
  path: string,
  body: unknown,
): Promise<{ status: number; body: any; retryAfter: number }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${s.url}${path}`,
      {
        method: 'POST',
        localAddress: from,
        rejectUnauthorized: false,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null'),
            retryAfter: Number(res.headers['retry-after'] ?? 0),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
const login = (s: TestServer, from: string, username: string, password: string) =>
  postFrom(s, from, '/api/v1/auth/login', { username, password });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SECRET = randomBytes(32).toString('hex');

test('failures for one username from many addresses lock that username, the right password included', async () => {
  const s = await startTestServer({
    auth: { ...TEST_ADMIN, jwt_secret: SECRET, login_max_failures: 3, login_window_s: 60, login_lockout_base_s: 60 },
  });
  try {
    for (let i = 0; i < 3; i++)
      assert.equal((await login(s, `127.0.1.${10 + i}`, 'admin', 'wrong-password')).status, 401, `try ${i + 1}`);
    for (const from of ['127.0.1.50', '127.0.1.51']) {
      const r = await login(s, from, 'admin', TEST_ADMIN.password);
      assert.equal(r.status, 429, `a fresh address ${from} with the right password is still locked out`);
      assert.equal(r.body.error.code, 'RATE_LIMITED');
      assert.ok(r.retryAfter > 30 && r.retryAfter <= 60, `retry-after ${r.retryAfter}`);
    }
    assert.equal(
      (await login(s, '127.0.1.52', 'someone-else', 'x-password')).status,
      401,
      'another username is not locked',
    );
    assert.equal((await s.api('GET', '/api/v1/monitors')).status, 200, 'tokens issued before keep working');
  } finally {
    await s.stop();
  }
});

test('the lockout doubles with each failure after it and a successful login clears it', async () => {
  const s = await startTestServer({
    auth: {
      ...TEST_ADMIN,
      jwt_secret: SECRET,
      login_max_failures: 2,
      login_window_s: 60,
      login_lockout_base_s: 1,
      login_lockout_max_s: 3,
    },
  });
  try {
    let addr = 0;
    const fresh = () => `127.0.2.${++addr}`;
    assert.equal((await login(s, fresh(), 'admin', 'wrong-password')).status, 401);
    assert.equal((await login(s, fresh(), 'admin', 'wrong-password')).status, 401);
    const waits: number[] = [];
    for (let round = 0; round < 3; round++) {
      const locked = await login(s, fresh(), 'admin', 'wrong-password');
      assert.equal(locked.status, 429, `round ${round}`);
      waits.push(locked.retryAfter);
      await sleep(locked.retryAfter * 1000 + 150);
      assert.equal((await login(s, fresh(), 'admin', 'wrong-password')).status, 401, `after waiting, round ${round}`);
    }
    assert.deepEqual(waits, [1, 2, 3], 'doubling, capped at login_lockout_max_s');
    await sleep(3150);
    assert.equal((await login(s, fresh(), 'admin', TEST_ADMIN.password)).status, 200);
    assert.equal((await login(s, fresh(), 'admin', 'wrong-password')).status, 401, 'the success cleared the count');
    assert.equal((await login(s, fresh(), 'admin', TEST_ADMIN.password)).status, 200);
  } finally {
    await s.stop();
  }
});

test('a tRPC batch of N logins counts as N tries', async () => {
  const s = await startTestServer({
    auth: { ...TEST_ADMIN, jwt_secret: SECRET, login_max_failures: 5, login_window_s: 60, login_lockout_base_s: 60 },
  });
  try {
    const n = 8;
    const names = Array.from({ length: n }, (_, i) => `auth.login`).join(',');
    const input = Object.fromEntries(
      Array.from({ length: n }, (_, i) => [
        String(i),
        { username: `batch-user-${i % 2}`, password: `wrong-password-${i}` },
      ]),
    );
    const r = await postFrom(s, '127.0.3.1', `/trpc/${names}?batch=1`, input);
    const codes = (r.body as Array<{ error?: { data?: { app?: { code?: string } } } }>).map(
      (x) => x.error?.data?.app?.code,
    );
    assert.equal(codes.length, n);
    assert.equal(codes.filter((c) => c === 'UNAUTHORIZED').length, 5, `checked: ${codes.join(',')}`);
    assert.equal(codes.filter((c) => c === 'RATE_LIMITED').length, 3, `refused: ${codes.join(',')}`);
    assert.equal(
      (await login(s, '127.0.3.1', 'admin', TEST_ADMIN.password)).status,
      429,
      'the address used up its tries in the batch',
    );
    const again = await postFrom(
      s,
      '127.0.3.2',
      `/trpc/${names}?batch=1`,
      Object.fromEntries(
        Array.from({ length: n }, (_, i) => [String(i), { username: 'admin', password: `wrong-password-${i}` }]),
      ),
    );
    const codes2 = (again.body as Array<{ error?: { data?: { app?: { code?: string } } } }>).map(
      (x) => x.error?.data?.app?.code,
    );
    assert.equal(
      codes2.filter((c) => c === 'UNAUTHORIZED').length,
      5,
      `one username in one batch: ${codes2.join(',')}`,
    );
    assert.equal(
      (await login(s, '127.0.3.3', 'admin', TEST_ADMIN.password)).status,
      429,
      'the batch locked the username for every address',
    );
  } finally {
    await s.stop();
  }
});
