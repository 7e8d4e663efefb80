import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createExternalCollector, type ExternalConfig } from '../../../agent/collectors/external.ts';
import type { CollectRequest } from '../../../agent/collectors/collector.ts';
import { ClassifiedError } from '../../../agent/failure.ts';

// Issue 13, finding 1: the site decides what runs at the site, and a plugin's output reaches the
// server only as one sanitised line.
const PASSWORD = 'Tr0ub4dor&3-site';
let dir: string;
let pluginsDir: string;
let collector: ReturnType<typeof createExternalCollector>;

function install(name: string, body: string, mode = 0o755): string {
  const p = join(pluginsDir, name);
  writeFileSync(p, body);
  chmodSync(p, mode);
  return p;
}

function request(config: unknown): CollectRequest<ExternalConfig> {
  return {
    job_id: 'job-allow',
    monitor_id: 1,
    deadline: Date.now() + 10_000,
    target: { ip: '127.0.0.1', port: 5985, use_ssl: false },
    credential: { type: 'winrm_ntlm', username: 'admin', password: PASSWORD },
    config: collector.validateConfig(config),
  };
}

async function failureOf(c: ReturnType<typeof createExternalCollector>, config: unknown): Promise<ClassifiedError> {
  try {
    await c.collect({ ...request(config), config: c.validateConfig(config) }, new AbortController().signal);
  } catch (err) {
    assert.ok(err instanceof ClassifiedError, `expected ClassifiedError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the plugin to be refused');
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'nmslite-allow-'));
  pluginsDir = join(dir, 'plugins');
  mkdirSync(pluginsDir, { mode: 0o755 });
  collector = createExternalCollector({ pluginsDir });
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('only a plugin the site installed runs: paths, command lines and names not in the plugins folder are refused as not_allowed', async () => {
  const marker = join(dir, 'ran');
  const outside = join(dir, 'outside.sh');
  writeFileSync(outside, `#!/bin/sh\ntouch ${marker}\necho '{"cpu_percent": 1}'\n`);
  chmodSync(outside, 0o755);
  install('ok', '#!/bin/sh\ncat >/dev/null\necho \'{"cpu_percent": 5}\'\n');
  assert.equal((await collector.collect(request({ command: 'ok' }), new AbortController().signal)).cpu_percent, 5);

  for (const command of [
    outside,
    '/bin/sh',
    'sh -c id',
    '../outside.sh',
    'plugins/../outside.sh',
    '.',
    '..',
    'outside.sh',
  ]) {
    const f = await failureOf(collector, { command, args: ['-c', `touch ${marker}`] });
    assert.equal(f.failureClass, 'plugin_error', command);
    assert.equal(f.code, 'not_allowed', command);
    assert.equal(f.retryable, false);
    assert.match(f.message, /not a plugin name|not installed on this agent|not a file/, command);
  }
  assert.ok(!existsSync(marker), 'a command the site did not install ran');

  const none = await failureOf(createExternalCollector(), { command: 'ok' });
  assert.equal(none.code, 'not_allowed');
  assert.match(none.message, /no plugins folder/);
});

test('a plugin someone else on the machine could have written or changed is refused', {
  skip: process.platform === 'win32',
}, async () => {
  install('shared-file', '#!/bin/sh\necho \'{"cpu_percent": 5}\'\n', 0o777);
  const f = await failureOf(collector, { command: 'shared-file' });
  assert.equal(f.code, 'not_allowed');
  assert.match(f.message, /writable by group or others/);

  const loose = join(dir, 'loose');
  mkdirSync(loose, { mode: 0o755 });
  chmodSync(loose, 0o777);
  writeFileSync(join(loose, 'p'), '#!/bin/sh\necho \'{"cpu_percent": 5}\'\n', { mode: 0o755 });
  const g = await failureOf(createExternalCollector({ pluginsDir: loose }), { command: 'p' });
  assert.match(g.message, /the plugins folder .* is writable by group or others/);

  if (process.getuid?.() === 0) {
    const foreign = install('foreign', '#!/bin/sh\necho \'{"cpu_percent": 5}\'\n');
    chownSync(foreign, 65534, 65534);
    assert.match(
      (await failureOf(collector, { command: 'foreign' })).message,
      /belongs to another account \(uid 65534\)/,
    );
  }

  install('not-exec', "#!/bin/sh\necho '{}'\n", 0o644);
  assert.match((await failureOf(collector, { command: 'not-exec' })).message, /not executable|permission denied/);
  symlinkSync('/bin', join(pluginsDir, 'a-dir'));
  assert.match((await failureOf(collector, { command: 'a-dir' })).message, /not a file/);
});

test('a plugin that prints its password reversed, in pieces or over many lines does not get it into the failure message', async () => {
  const rev = [...PASSWORD].reverse().join('');
  const cases: [string, string][] = [
    // stderr on a failed exit: every line of it
    [
      'rev-stderr',
      `#!/bin/sh\nprintf 'login failed for %s\\n' "$(cat | sed 's/.*"password":"\\([^"]*\\)".*/\\1/' | rev)" >&2\nexit 2\n`,
    ],
    ['second-line', `#!/bin/sh\nprintf 'cannot connect\\nyour password is ${PASSWORD}\\n' >&2\nexit 1\n`],
    ['reported', `#!/bin/sh\ncat >/dev/null\nprintf '{"error": "wrong password ${rev}"}'\n`],
    ['piece', `#!/bin/sh\ncat >/dev/null\nprintf '{"error": "bad: ${PASSWORD.slice(2, 8).toUpperCase()}"}'\n`],
    ['garbage', `#!/bin/sh\ncat >/dev/null\nprintf 'x ${rev}'\n`],
    ['key', `#!/bin/sh\ncat >/dev/null\nprintf '{"${rev.replace(/[^A-Za-z0-9]/g, '_')}": 1}'\n`],
  ];
  const messages: string[] = [];
  for (const [name, body] of cases) {
    install(name, body);
    const f = await failureOf(collector, { command: name });
    assert.equal(f.failureClass, 'plugin_error', name);
    messages.push(f.message);
    assert.ok(!f.message.includes('\n'), `${name}: more than one line`);
    assert.ok(f.message.length < 300, `${name}: ${f.message.length} characters`);
  }
  const all = messages.join('\n').toLowerCase();
  for (let i = 0; i + 4 <= PASSWORD.length; i++) {
    assert.ok(
      !all.includes(PASSWORD.slice(i, i + 4).toLowerCase()),
      `a piece of the password in: ${messages.join(' | ')}`,
    );
    assert.ok(
      !all.includes(rev.slice(i, i + 4).toLowerCase()),
      `a piece of the reversed password in: ${messages.join(' | ')}`,
    );
  }
  assert.match(messages[0]!, /exited with code 2: \(withheld: it resembled the credential\)/);
  assert.equal(messages[1], 'the plugin exited with code 1: cannot connect');
});

test('control and invisible characters in a plugin message become spaces and its length is bounded', async () => {
  install(
    'noisy',
    `#!/bin/sh\ncat >/dev/null\nprintf '{"error": "a\\\\u001b[31mred\\\\u202e\\\\u0007 ${'y'.repeat(5000)}"}'\n`,
  );
  const f = await failureOf(collector, { command: 'noisy' });
  assert.ok(!/[\u0000-\u001f\u007f\u202e]/.test(f.message), JSON.stringify(f.message));
  assert.match(f.message, /^the plugin reported: a \[31mred y+…$/);
  assert.ok(f.message.length <= 'the plugin reported: '.length + 201);
});
