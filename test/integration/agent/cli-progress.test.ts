import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { agentHome, runAgentCommand } from '../../helpers/agent-process.ts';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { skipUnlessRequired } from '../../helpers/skip.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const MAIN = fileURLToPath(new URL('../../../agent/main.ts', import.meta.url));
/** util-linux `script` runs a command on a pseudo-terminal (bsdutils: on every Debian system). */
const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
const skip = skipUnlessRequired(
  hasScript ? undefined : 'no `script` (util-linux/bsdutils) to run the CLI on a pseudo-terminal',
);

const ERASE_LINE = '\r\x1b[K';
const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs the agent CLI with stdout and stderr on one pseudo-terminal; everything it wrote, as the terminal got it. */
function runOnTerminal(args: string[]): Promise<{ code: number | null; out: string }> {
  const cmd = [process.execPath, '--import', 'tsx', MAIN, ...args].map(quote).join(' ');
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', cmd, '/dev/null'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, COLUMNS: '200', TERM: 'dumb' },
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.once('exit', (code) => resolve({ code, out }));
  });
}

const assertClean = (what: string, text: string): void => {
  assert.ok(
    !/[\r\x1b]/.test(text),
    `${what} has no carriage return or escape sequence: ${JSON.stringify(text.slice(0, 200))}`,
  );
};

// Closed ports on loopback answer at once: a real (short) discovery without a network.
const DISCOVER = ['discover', '127.0.0.1-12', '--port-scan'];

test('discover piped: stdout is the JSON result only, stderr is empty (no progress)', async () => {
  const r = await runAgentCommand(DISCOVER);
  assert.equal(r.code, 0, r.stderr);
  assertClean('stdout', r.stdout);
  assert.equal(r.stderr, '', 'nothing extra on a piped stderr');
  const res = JSON.parse(r.stdout);
  assert.equal(res.total, 12);
  assert.equal(res.scanned, 12);
});

test('discover on a terminal: says what it does and updates one progress line in place', { skip }, async () => {
  const r = await runOnTerminal(DISCOVER);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /discovering 127\.0\.0\.1-12: probing every address, then WinRM on the hosts found…/);
  assert.ok(r.out.includes(`${ERASE_LINE}swept 12/12 addresses, 0 Windows hosts`), JSON.stringify(r.out.slice(0, 400)));
  assert.match(r.out, /"scanned": 12/, 'the result still follows');
});

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s?.stop();
});

const enrollArgs = async (home: string): Promise<string[]> => {
  const created = await s.api('POST', '/api/v1/agents', { name: `cli-${Math.random().toString(36).slice(2, 8)}` });
  assert.equal(created.status, 201);
  return ['enroll', '--server', `wss://127.0.0.1:${s.port}`, '--token', created.body.enrollment_token, '--home', home];
};

test('enroll and status piped: results on stdout, nothing else', async () => {
  const home = agentHome();
  const r = await runAgentCommand(await enrollArgs(home));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assertClean('stdout', r.stdout);
  assert.equal(JSON.parse(r.stdout).server_fingerprint, s.server.fingerprint);
  const st = await runAgentCommand(['status', '--home', home]);
  assert.equal(st.code, 0, st.stderr);
  assert.equal(st.stderr, '');
  assertClean('status stdout', st.stdout);
  assert.equal(JSON.parse(st.stdout).server_fingerprint, s.server.fingerprint);
});

test('enroll and status on a terminal say what they are doing: the server contacted, the certificate pinned, the spool read', {
  skip,
}, async () => {
  const home = agentHome();
  const r = await runOnTerminal(await enrollArgs(home));
  assert.equal(r.code, 0, r.out);
  assert.ok(r.out.includes(`contacting the server at 127.0.0.1:${s.port}…`), r.out);
  const formatted = s.server.fingerprint.toUpperCase().match(/../g)!.join(':');
  assert.ok(r.out.includes(`server certificate sha256 ${formatted} (not checked: no --fingerprint given`), r.out);
  const st = await runOnTerminal(['status', '--home', home]);
  assert.equal(st.code, 0, st.out);
  assert.ok(st.out.includes(`reading the schedule, state and spool in ${home}…${ERASE_LINE}`), 'shown, then erased');
});
