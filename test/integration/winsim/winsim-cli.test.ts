import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { basic, enumerateXml, post, text } from './wsman-raw.ts';

test('npm run winsim prints one JSON line per listening host and exits cleanly on SIGTERM', async () => {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'test/winsim/cli.ts',
      '--hosts',
      '3',
      '--port-base',
      '0',
      '--auth',
      'basic',
      '--user',
      'ops',
      '--password',
      'S3cret!',
    ],
    {
      cwd: new URL('../../../', import.meta.url),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  try {
    const lines: Record<string, unknown>[] = [];
    for await (const line of createInterface({ input: child.stdout! })) {
      lines.push(JSON.parse(line) as Record<string, unknown>);
      if (lines.length === 3) break;
    }
    assert.deepEqual(Object.keys(lines[0]!), ['hostname', 'address', 'port', 'user', 'password', 'auth', 'tls']);
    assert.equal(new Set(lines.map((l) => l.hostname)).size, 3);
    for (const l of lines) {
      assert.equal(l.user, 'ops');
      assert.equal(l.password, 'S3cret!');
      assert.equal(l.auth, 'basic');
      assert.equal(l.tls, false);
      const res = await post(
        `http://${l.address}:${l.port}/wsman`,
        enumerateXml('SELECT CSName FROM Win32_OperatingSystem', { maxElements: 10 }),
        { headers: basic('ops', 'S3cret!') },
      );
      assert.equal(res.status, 200);
      assert.equal(text(res.body, 'CSName'), l.hostname);
    }
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('the CLI refuses a non-loopback bind address', async () => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/winsim/cli.ts', '--hosts', '1', '--bind', '10.0.0.1'],
    {
      cwd: new URL('../../../', import.meta.url),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 2);
  assert.match(stderr, /loopback/);
});
