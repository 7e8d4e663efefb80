import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { runAgentCommand } from '../../helpers/agent-process.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

test('agent collect: bad flag values are usage errors (exit 2) naming the flag, not a false timeout or an internal error', async () => {
  const cases: [string[], RegExp][] = [
    [['--timeout', 'abc'], /--timeout must be a whole number/],
    [['--port', '99999'], /--port must be a whole number from 1 to 65535/],
    [['--auth', 'kerberos'], /--auth must be ntlm or basic/],
  ];
  for (const [flags, message] of cases) {
    const r = await runAgentCommand(['collect', '127.0.0.1', ...flags]);
    assert.equal(r.code, 2, `${flags.join(' ')}: exit code`);
    assert.match(r.stderr, message, `${flags.join(' ')}: message`);
    assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
  }
});

test('build-sea --only with an unknown target fails instead of building nothing and succeeding', async () => {
  const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(
      process.execPath,
      ['--import', 'tsx', 'agent/build/build-sea.ts', '--only', 'win64'],
      { cwd: ROOT },
      (err, _o, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    ),
  );
  assert.equal(r.code, 1, 'exit code');
  assert.match(r.stderr, /--only needs one of .*linux-x64/, 'lists the targets');
});
