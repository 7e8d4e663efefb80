import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../../helpers/server.ts';

/** Issue 13 finding 9: a deeply nested body is refused with 400 before auth, no 500, no stack in the log. */
test('deeply nested JSON is a 400 on REST and tRPC (POST and GET), before auth, with no stack trace logged', {
  timeout: 60_000,
}, async () => {
  const s = await startTestServer();
  try {
    const deep = (n: number) => `{"username":${'['.repeat(n)}${']'.repeat(n)},"password":"x"}`;
    const body = deep(10_000);
    const before = s.logs.length;
    const cases: [string, string, string | undefined, string | null][] = [
      ['POST', '/api/v1/auth/login', body, null],
      ['POST', '/api/v1/plugins', body, null],
      ['POST', '/api/v1/plugins', body, s.token],
      ['POST', '/trpc/auth.login', body, null],
      ['POST', '/trpc/plugins.create', body, null],
      ['POST', '/trpc/auth.login?batch=1', `{"0":${body}}`, null],
      ['GET', `/trpc/plugins.list?input=${encodeURIComponent('['.repeat(1500) + ']'.repeat(1500))}`, undefined, null],
    ];
    for (const [method, path, b, token] of cases) {
      const r = await s.api(method, path, b, token);
      assert.equal(
        r.status,
        400,
        `${method} ${path.slice(0, 40)} (token: ${token ? 'yes' : 'no'}): ${JSON.stringify(r.body).slice(0, 300)}`,
      );
      assert.ok(!JSON.stringify(r.body).includes('    at '), 'no stack trace in the response');
    }
    // Moderate nesting (within the limit) still reaches the procedure: a 401 for wrong credentials.
    const ok = await s.api(
      'POST',
      '/api/v1/auth/login',
      { username: 'admin', password: 'wrong-password', x: JSON.parse('['.repeat(20) + ']'.repeat(20)) },
      null,
    );
    assert.notEqual(ok.status, 500);
    assert.notEqual(ok.status, 413);
    // Brackets inside strings do not count.
    const inString = await s.api(
      'POST',
      '/api/v1/auth/login',
      { username: '['.repeat(5000), password: 'wrong-password' },
      null,
    );
    assert.notEqual(inString.status, 500);
    const logged = s.logs.slice(before).join('\n');
    assert.ok(!/"stack"/.test(logged), `no stack trace in the log: ${logged.slice(0, 500)}`);
    assert.ok(!/"level":50/.test(logged), `nothing logged as an error: ${logged.slice(0, 500)}`);
    assert.equal((await s.api('GET', '/api/v1/health', undefined, null)).status, 200);
  } finally {
    await s.stop();
  }
});
