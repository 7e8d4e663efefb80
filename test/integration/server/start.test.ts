import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, chmodSync, statSync } from 'node:fs';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { freePort, startTestDatabase } from '../../helpers/db.ts';
import { httpsRequest } from '../../helpers/server.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

function start(
  dataDir: string,
  port: number,
  pgPort: number,
  env: Record<string, string> = { DATABASE_URL: '', AUTH_PASSWORD: '', JWT_SECRET: '', NMSLITE_MASTER_KEY: '' },
) {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'server/main.ts',
      '--data_dir',
      dataDir,
      '--server.port',
      String(port),
      '--database.embedded_port',
      String(pgPort),
      '--log.level',
      'warn',
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } },
  );
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const up = new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`not up in 30 s: ${err}`)), 30_000);
    child.stderr!.on('data', () => {
      if (err.includes('NMSlite is up')) {
        clearTimeout(t);
        setTimeout(() => resolve(err), 100);
      }
    });
    child.once('exit', (c) => reject(new Error(`exited ${c}: ${err}`)));
  });
  return { child, up };
}

test('npm start works with no setup, survives a SIGKILL (postgres left running) and reuses its data', {
  timeout: 120_000,
}, async () => {
  const dataDir = mkdtempSync('/tmp/nmslite-start-');
  chmodSync(dataDir, 0o755);
  const port = await freePort();
  const pgPort = await freePort();
  const t0 = Date.now();
  const first = start(dataDir, port, pgPort);
  const out1 = await first.up;
  const startMs = Date.now() - t0;
  assert.ok(startMs < 15_000, `first start took ${startMs} ms`);
  const password = /password: (\S+)/.exec(out1)?.[1];
  assert.ok(password, 'the generated admin password is printed once');
  assert.match(out1, /fingerprint: ([0-9A-F]{2}:){31}[0-9A-F]{2}/);
  assert.equal(statSync(`${dataDir}/secrets.json`).mode & 0o777, 0o600);
  const login = await httpsRequest(
    'POST',
    `https://127.0.0.1:${port}/api/v1/auth/login`,
    { 'content-type': 'application/json' },
    JSON.stringify({ username: 'admin', password }),
  );
  assert.equal(login.status, 200);
  await httpsRequest(
    'POST',
    `https://127.0.0.1:${port}/api/v1/agents`,
    { 'content-type': 'application/json', authorization: `Bearer ${login.body.token}` },
    JSON.stringify({ name: 'kept' }),
  );

  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));
  const second = start(dataDir, port, pgPort);
  const out2 = await second.up;
  assert.ok(!/password: /.test(out2), 'the password is not printed again');
  const again = await httpsRequest(
    'POST',
    `https://127.0.0.1:${port}/api/v1/auth/login`,
    { 'content-type': 'application/json' },
    JSON.stringify({ username: 'admin', password }),
  );
  assert.equal(again.status, 200, 'same secrets after the restart');
  const agents = await httpsRequest('GET', `https://127.0.0.1:${port}/api/v1/agents`, {
    authorization: `Bearer ${again.body.token}`,
  });
  assert.deepEqual(
    agents.body.map((a: { name: string }) => a.name),
    ['kept'],
    'same data after the restart',
  );

  const tls11 = await new Promise<string>((resolve) => {
    const sock = connect({
      host: '127.0.0.1',
      port,
      maxVersion: 'TLSv1.1',
      minVersion: 'TLSv1',
      rejectUnauthorized: false,
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    sock.once('secureConnect', () => resolve('connected'));
    sock.once('error', (e) => resolve(e.message));
  });
  assert.notEqual(tls11, 'connected', 'TLS 1.1 is refused');

  second.child.kill('SIGTERM');
  const code = await new Promise((r) => second.child.once('exit', r));
  assert.equal(code, 0, 'a clean shutdown on SIGTERM');
});

test('with an external database (DATABASE_URL, as in docker compose) SIGTERM is a clean shutdown with exit 0', {
  timeout: 120_000,
}, async () => {
  const db = await startTestDatabase();
  try {
    const dataDir = mkdtempSync('/tmp/nmslite-start-ext-');
    const env = {
      DATABASE_URL: db.url,
      AUTH_PASSWORD: 'ext-admin-pw-1',
      JWT_SECRET: randomBytes(32).toString('hex'),
      NMSLITE_MASTER_KEY: randomBytes(32).toString('hex'),
    };
    const s = start(dataDir, await freePort(), await freePort(), env);
    await s.up;
    s.child.kill('SIGTERM');
    const code = await new Promise((r) => s.child.once('exit', r));
    assert.equal(code, 0, 'the server ran its own shutdown (a library exit hook would end it with 143)');
  } finally {
    await db.stop();
  }
});
