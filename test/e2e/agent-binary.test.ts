import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, chmodSync, existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/agent-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(() => s.stop());

test('the linux-x64 single executable runs with no node_modules, enrolls and connects', {
  timeout: 420_000,
}, async () => {
  await run(process.execPath, ['--import', 'tsx', 'agent/build/build-sea.ts', '--only', 'linux-x64'], {
    cwd: ROOT,
    timeout: 240_000,
  });
  const built = `${ROOT}/dist/nmslite-agent-linux-x64`;
  assert.ok(existsSync(built), 'the build wrote the linux-x64 binary');
  // A single non-ASCII character would make V8 hold the whole script as UTF-16 (twice the memory).
  assert.doesNotMatch(
    readFileSync(`${ROOT}/dist/sea/nmslite-agent.cjs`, 'utf8'),
    /[^\x00-\x7f]/,
    'the bundled script is ASCII',
  );
  const dir = mkdtempSync('/tmp/nmslite-sea-');
  chmodSync(dir, 0o700);
  const bin = `${dir}/nmslite-agent`;
  copyFileSync(built, bin);
  chmodSync(bin, 0o755);
  assert.ok(!existsSync(`${dir}/node_modules`));

  // A start that compiled or installed anything would take far longer than this bound, which leaves
  // a loaded machine room (the executable answers in well under a second here).
  const t0 = Date.now();
  const v = await run(bin, ['--version'], { cwd: dir });
  assert.equal(v.stdout.trim(), '0.1.0');
  assert.equal(v.stderr, '', 'no warnings at start');
  assert.ok(Date.now() - t0 < 15_000, `--version took ${Date.now() - t0} ms`);

  const created = await s.api('POST', '/api/v1/agents', { name: 'sea-site' });
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir };
  const e = await run(
    bin,
    [
      'enroll',
      '--server',
      `wss://127.0.0.1:${s.port}`,
      '--token',
      created.body.enrollment_token,
      '--home',
      `${dir}/state`,
    ],
    { cwd: dir, env },
  );
  assert.equal(JSON.parse(e.stdout).agent_id, created.body.agent.id);
  const child = spawn(bin, ['run', '--home', `${dir}/state`], { cwd: dir, env, stdio: 'ignore' });
  try {
    await waitFor(
      'binary agent online',
      async () => (await s.api('GET', `/api/v1/agents/${created.body.agent.id}`)).body.online,
      90_000,
    );
    const status = await run(bin, ['status', '--home', `${dir}/state`], { cwd: dir, env });
    assert.equal(JSON.parse(status.stdout).agent_id, created.body.agent.id);
  } finally {
    child.kill('SIGTERM');
  }
});
