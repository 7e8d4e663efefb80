import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync, readFileSync, rmSync, existsSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createExternalCollector, type ExternalConfig } from '../../../agent/collectors/external.ts';
import type { CollectRequest } from '../../../agent/collectors/collector.ts';
import { ClassifiedError } from '../../../agent/failure.ts';

const PASSWORD = 'S3cret!pw-external';
let dir: string;
let pluginsDir: string;
let collector: ReturnType<typeof createExternalCollector>;

function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
}

function request(config: unknown, deadlineMs = 10_000): CollectRequest<ExternalConfig> {
  return {
    job_id: 'job-1',
    monitor_id: 7,
    deadline: Date.now() + deadlineMs,
    target: { ip: '127.0.0.1', port: 5985, use_ssl: false },
    credential: { type: 'winrm_basic', username: 'admin', password: PASSWORD },
    config: collector.validateConfig(config),
  };
}

async function failureOf(p: Promise<unknown>): Promise<ClassifiedError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ClassifiedError, `expected ClassifiedError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the collection to fail');
}

/** A killed process whose parent died may linger as a zombie until PID 1 reaps it: that counts as dead. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

// The site installs `node` and `sh` as plugins: the scripts these tests run are their args.
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'nmslite-external-'));
  pluginsDir = join(dir, 'plugins');
  mkdirSync(pluginsDir, { mode: 0o755 });
  symlinkSync(process.execPath, join(pluginsDir, 'node'));
  symlinkSync('/bin/sh', join(pluginsDir, 'sh'));
  collector = createExternalCollector({ pluginsDir });
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('a plugin gets the job on stdin, the password nowhere else, and its metrics come back with missing fields null', async () => {
  const seen = join(dir, 'seen.json');
  const path = script(
    'ok.mjs',
    `import { writeFileSync } from 'node:fs';
let input = '';
process.stdin.on('data', (c) => (input += c));
process.stdin.on('end', () => {
  const job = JSON.parse(input);
  writeFileSync(${JSON.stringify(seen)}, JSON.stringify({ job, argv: process.argv, env: process.env }));
  process.stdout.write(JSON.stringify({ cpu_percent: 12.5, memory_total: 8589934592, memory_used: 4294967296, process_count: 88 }));
});
`,
  );
  const sample = await collector.collect(
    request({ command: 'node', args: [path, '--flag'] }),
    new AbortController().signal,
  );
  assert.equal(sample.cpu_percent, 12.5);
  assert.equal(sample.memory_total, 8589934592);
  assert.equal(sample.memory_used, 4294967296);
  assert.equal(sample.process_count, 88);
  assert.equal(sample.disk_total, null);
  assert.equal(sample.net_sent_ps, null);
  assert.ok(Number.isInteger(sample.collection_ms));
  const s = JSON.parse(readFileSync(seen, 'utf8')) as {
    job: Record<string, any>;
    argv: string[];
    env: Record<string, string>;
  };
  assert.equal(s.job.job_id, 'job-1');
  assert.equal(s.job.monitor_id, 7);
  assert.deepEqual(s.job.target, { ip: '127.0.0.1', port: 5985, use_ssl: false });
  assert.equal(s.job.credential.password, PASSWORD);
  assert.deepEqual(s.job.config.args, [path, '--flag']);
  assert.ok(!Number.isNaN(Date.parse(s.job.deadline)));
  assert.ok(!s.argv.some((a) => a.includes(PASSWORD)), 'password on the command line');
  assert.ok(!Object.values(s.env).some((v) => v.includes(PASSWORD)), 'password in the environment');
});

test('a plugin that hangs is killed with its children at its timeout and reported as timeout', async () => {
  const pidFile = join(dir, 'grandchild.pid');
  const path = script(
    'hang.mjs',
    `import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
const g = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
writeFileSync(${JSON.stringify(pidFile)}, String(g.pid));
setInterval(() => {}, 1000);
`,
  );
  const t0 = Date.now();
  const f = await failureOf(
    collector.collect(request({ command: 'node', args: [path], timeout_ms: 700 }), new AbortController().signal),
  );
  const elapsed = Date.now() - t0;
  assert.equal(f.failureClass, 'timeout');
  assert.match(f.message, /did not finish within its 700 ms timeout/);
  assert.ok(elapsed >= 650 && elapsed < 3000, `took ${elapsed} ms`);
  assert.ok(existsSync(pidFile));
  const gpid = Number(readFileSync(pidFile, 'utf8'));
  await sleep(200);
  assert.ok(!isRunning(gpid), 'the grandchild survived');
});

test('the job deadline bounds a plugin even when its own timeout is longer', async () => {
  const path = script('hang2.mjs', 'setInterval(() => {}, 1000);\n');
  const f = await failureOf(
    collector.collect(
      request({ command: 'node', args: [path], timeout_ms: 60_000 }, 400),
      new AbortController().signal,
    ),
  );
  assert.equal(f.failureClass, 'timeout');
  assert.match(f.message, /job deadline/);
});

test('aborting the signal kills the plugin at once', async () => {
  const path = script('hang3.mjs', 'setInterval(() => {}, 1000);\n');
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 150);
  const t0 = Date.now();
  const f = await failureOf(collector.collect(request({ command: 'node', args: [path] }), ac.signal));
  assert.equal(f.failureClass, 'timeout');
  assert.ok(Date.now() - t0 < 2000);
});

test('a crashing plugin reports its exit code and stderr, with the password removed', async () => {
  const path = script(
    'crash.mjs',
    `let input = '';
process.stdin.on('data', (c) => (input += c));
process.stdin.on('end', () => {
  const job = JSON.parse(input);
  process.stderr.write('cannot log on as admin with ' + job.credential.password + ': access is denied\\n');
  process.exit(3);
});
`,
  );
  const f = await failureOf(
    collector.collect(request({ command: 'node', args: [path] }), new AbortController().signal),
  );
  assert.equal(f.failureClass, 'plugin_error');
  assert.equal(f.code, 'exit_3');
  assert.match(f.message, /exited with code 3: cannot log on as admin with \*\*\*: access is denied/);
  assert.ok(!f.message.includes(PASSWORD));
});

test('a plugin killed by a signal says which', async () => {
  const path = script('segv.mjs', "process.kill(process.pid, 'SIGTERM'); setInterval(() => {}, 1000);\n");
  const f = await failureOf(
    collector.collect(request({ command: 'node', args: [path] }), new AbortController().signal),
  );
  assert.equal(f.failureClass, 'plugin_error');
  assert.match(f.message, /killed by SIGTERM/);
});

test('garbage on stdout is a clear plugin_error quoting the start of it', async () => {
  const path = script('garbage.mjs', "process.stdout.write('Traceback (most recent call last): oops');\n");
  const f = await failureOf(
    collector.collect(request({ command: 'node', args: [path] }), new AbortController().signal),
  );
  assert.equal(f.failureClass, 'plugin_error');
  assert.match(f.message, /not JSON: "Traceback \(most recent call last\): oops"/);
});

test('metrics outside the schema name the field', async () => {
  const path = script('bad-metric.mjs', 'process.stdout.write(JSON.stringify({ cpu_percent: 150 }));\n');
  const f = await failureOf(
    collector.collect(request({ command: 'node', args: [path] }), new AbortController().signal),
  );
  assert.equal(f.failureClass, 'plugin_error');
  assert.match(f.message, /invalid metrics: cpu_percent:/);
  const typo = script('typo.mjs', 'process.stdout.write(JSON.stringify({ cpu_precent: 5 }));\n');
  const g = await failureOf(
    collector.collect(request({ command: 'node', args: [typo] }), new AbortController().signal),
  );
  assert.match(g.message, /cpu_precent/);
});

test('a plugin may report its own failure as {"error": ...}', async () => {
  const path = script('says-error.mjs', "process.stdout.write(JSON.stringify({ error: 'WMI service stopped' }));\n");
  const f = await failureOf(
    collector.collect(request({ command: 'node', args: [path] }), new AbortController().signal),
  );
  assert.equal(f.failureClass, 'plugin_error');
  assert.equal(f.message, 'the plugin reported: WMI service stopped');
});

test('huge output is cut at the size limit and the plugin killed', async () => {
  const path = script(
    'huge.mjs',
    "const s = 'x'.repeat(65536); const w = () => { while (process.stdout.write(s)); process.stdout.once('drain', w); }; w();\n",
  );
  const t0 = Date.now();
  const f = await failureOf(
    collector.collect(
      request({ command: 'node', args: [path], max_output_bytes: 100_000 }),
      new AbortController().signal,
    ),
  );
  assert.equal(f.failureClass, 'plugin_error');
  assert.equal(f.code, 'output_limit');
  assert.match(f.message, /more than 100000 bytes/);
  assert.ok(Date.now() - t0 < 3000);
});

test('a plugin the site did not install and a bad config are plugin errors, not crashes', async () => {
  const f = await failureOf(collector.collect(request({ command: 'does-not-exist' }), new AbortController().signal));
  assert.equal(f.failureClass, 'plugin_error');
  assert.equal(f.code, 'not_allowed');
  assert.equal(f.retryable, false);
  assert.match(f.message, /plugin "does-not-exist" is not installed on this agent \(no .*plugins\/does-not-exist\)/);
  assert.throws(
    () => collector.validateConfig({ command: '', timeout_ms: 5 }),
    (e: unknown) =>
      e instanceof ClassifiedError &&
      e.failureClass === 'plugin_error' &&
      !e.retryable &&
      /invalid external plugin config: command/.test(e.message),
  );
  assert.throws(() => collector.validateConfig({ command: 'x', shell: true }), /shell/);
});

test('a helper the plugin leaves running in the background is killed once the plugin is done', async () => {
  const pidFile = join(dir, 'leftover.pid');
  const path = script(
    'leftover.sh',
    `sleep 60 </dev/null >/dev/null 2>&1 &\necho $! > ${JSON.stringify(pidFile)}\necho '{"cpu_percent": 1}'\n`,
  );
  const sample = await collector.collect(request({ command: 'sh', args: [path] }), new AbortController().signal);
  assert.equal(sample.cpu_percent, 1, 'the plugin succeeded');
  const pid = Number(readFileSync(pidFile, 'utf8'));
  await sleep(200);
  assert.ok(!isRunning(pid), 'the background helper was killed');
});
