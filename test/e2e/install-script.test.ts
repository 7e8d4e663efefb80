// The one-line agent install, for real: a live server serves a built agent binary and the install
// script; the Linux command POST /agents returns is run (curl over the pinned key, sh) into a
// temporary root, and the installed agent enrolls and connects. A tampered binary and a wrong pin fail.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/agent-process.ts';
import { skipUnlessRequired } from '../helpers/skip.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
const DIST_BIN = join(ROOT, 'dist/nmslite-agent-linux-x64');
/** A whole second, so the restored modification time after tampering is exactly the hashed one. */
const FIXED_MTIME = 1_700_000_000;

const missing = ['curl', 'bash'].filter((c) => !['/usr/bin', '/bin'].some((d) => existsSync(`${d}/${c}`)));
const skip = skipUnlessRequired(
  process.arch !== 'x64' || process.platform !== 'linux'
    ? 'the install test runs the linux-x64 agent binary (this machine is not linux-x64)'
    : missing.length
      ? `${missing.join(' and ')} not installed (apt-get install ${missing.join(' ')}; .ci/run installs it)`
      : undefined,
);

function newestSource(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    newest = Math.max(newest, st.isDirectory() ? newestSource(p) : st.mtimeMs);
  }
  return newest;
}

/** The SEA from dist/ when it is newer than every agent and shared source (the agent-binary test builds it), else built now (~5 s). */
async function agentBinaryInto(dir: string): Promise<string> {
  const stale = () =>
    !existsSync(DIST_BIN) ||
    statSync(DIST_BIN).mtimeMs < Math.max(newestSource(join(ROOT, 'agent')), newestSource(join(ROOT, 'shared')));
  const target = join(dir, 'nmslite-agent-linux-x64');
  for (let attempt = 0; attempt < 2; attempt++) {
    if (attempt > 0 || stale())
      await run(process.execPath, ['--import', 'tsx', 'agent/build/build-sea.ts', '--only', 'linux-x64'], {
        cwd: ROOT,
        timeout: 240_000,
      });
    copyFileSync(DIST_BIN, target);
    chmodSync(target, 0o755);
    // A copy taken while another test rebuilt dist/ would not run: build our own then.
    if ((await run(target, ['--version']).catch(() => ({ stdout: '' }))).stdout.trim()) break;
  }
  utimesSync(target, FIXED_MTIME, FIXED_MTIME);
  return target;
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

/** Runs a pasted command line without sudo (the test is root already), with extra script options. */
function runInstall(command: string, extra: string, env: Record<string, string> = {}) {
  assert.match(command, / sudo --preserve-env=NMSLITE_ENROLL_TOKEN sh -s -- /);
  const line = `${command.replace(' sudo --preserve-env=NMSLITE_ENROLL_TOKEN ', ' ')} ${extra}`;
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', line], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Base64 SHA-256 of the SubjectPublicKeyInfo of the certificate the server presents on a TLS connection. */
const presentedKeyPin = (port: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const spki = sock.getPeerX509Certificate()!.publicKey.export({ type: 'spki', format: 'der' });
      sock.destroy();
      resolve(createHash('sha256').update(spki).digest('base64'));
    });
    sock.once('error', reject);
  });

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

const noSystemdAnalyze = existsSync('/usr/bin/systemd-analyze')
  ? undefined
  : 'systemd-analyze not installed (apt-get install systemd; .ci/run installs it)';

describe('one-line agent install (Linux)', { skip }, () => {
  let s: TestServer;
  let agentsDir: string;
  let binary: string;
  const roots: string[] = [];
  const newRoot = () => {
    const r = mkdtempSync('/tmp/nmslite-install-root-');
    roots.push(r);
    return r;
  };

  before(async () => {
    agentsDir = mkdtempSync('/tmp/nmslite-install-dist-');
    binary = await agentBinaryInto(agentsDir);
    const port = await freePort();
    s = await startTestServer({
      server: { host: '127.0.0.1', port, public_url: `https://127.0.0.1:${port}` },
      install: { agents_dir: agentsDir },
    });
  });
  after(async () => {
    await s?.stop();
    for (const r of [...roots, agentsDir]) if (r) rmSync(r, { recursive: true, force: true });
  });

  test('the manifest announces the binary with its SHA-256 and size; unknown names and traversal are 404', async () => {
    const m = await s.api('GET', '/install/manifest.json', undefined, null);
    assert.equal(m.status, 200);
    assert.deepEqual(m.body.files, [
      {
        os: 'linux',
        arch: 'x64',
        url: `${s.url}/install/agent-linux-x64`,
        sha256: sha256(binary),
        size: statSync(binary).size,
      },
    ]);
    for (const p of ['/install/../package.json', '/install/..%2f..%2fpackage.json', '/install/nmslite-agent-linux-x64'])
      assert.equal((await s.api('GET', p, undefined, null)).status, 404, p);
    const arm = await s.api('GET', '/install/agent-linux-arm64', undefined, null);
    assert.equal(arm.status, 404);
    assert.match(arm.body.error.message, /agent-linux-arm64 is not built on this server: run `npm run build:agent`/);
    assert.equal((await s.api('POST', '/install/agent.sh', {}, null)).status, 405);
  });

  test('the returned Linux command downloads, verifies, enrolls and installs; the installed agent connects', {
    timeout: 240_000,
  }, async () => {
    const created = await s.api('POST', '/api/v1/agents', { name: 'one-line-site' });
    assert.equal(created.status, 201);
    const { install, enrollment_token: token } = created.body;
    assert.equal(install.server_url, s.url);
    assert.equal(install.windows, null, 'no Windows binary was built for this server');
    assert.ok(install.notes.some((n: string) => /no Windows agent binary/.test(n)));
    // The pin in the command is the SHA-256 of the public key the server presents (curl's sha256// form).
    const pin = /--pinnedpubkey 'sha256\/\/([A-Za-z0-9+/=]+)'/.exec(install.linux)?.[1];
    assert.equal(pin, await presentedKeyPin(s.port), install.linux);
    const argvPart = install.linux.split('|')[1];
    assert.match(argvPart, /--token-env NMSLITE_ENROLL_TOKEN$/, 'the script reads the token from the environment');
    assert.ok(!/--token /.test(install.linux));

    const root = newRoot();
    const r = await runInstall(install.linux, `--no-service --root ${root}`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /SHA-256 verified/);
    assert.ok(!r.stderr.includes(token) && !r.stdout.includes(token), 'the token is never printed');
    const bin = join(root, 'usr/local/bin/nmslite-agent');
    const home = join(root, 'var/lib/nmslite-agent');
    assert.equal(sha256(bin), sha256(binary), 'the installed binary is the served one');
    assert.ok(!existsSync(join(root, 'etc/systemd')), '--no-service writes no unit');
    assert.equal((statSync(home).mode & 0o777).toString(8), '700');
    const identity = JSON.parse(readFileSync(join(home, 'identity.json'), 'utf8'));
    assert.equal(identity.agent_id, created.body.agent.id);
    assert.equal(identity.server, `wss://127.0.0.1:${s.port}`);
    assert.equal(identity.server_fingerprint, s.server.fingerprint, 'enrolled with the certificate pinned');
    const enrolled = await s.api('GET', `/api/v1/agents/${created.body.agent.id}`);
    assert.equal(enrolled.body.status, 'active');

    const child = spawn(bin, ['run', '--home', home], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      stdio: 'ignore',
    });
    try {
      await waitFor(
        'installed agent online',
        async () => (await s.api('GET', `/api/v1/agents/${created.body.agent.id}`)).body.online,
        90_000,
      );
    } finally {
      child.kill('SIGTERM');
    }
  });

  test('without --no-service the unit is written under --root with the installed paths', {
    timeout: 60_000,
  }, async () => {
    const created = await s.api('POST', '/api/v1/agents', { name: 'unit-site' });
    const root = newRoot();
    const r = await runInstall(created.body.install.linux, `--root ${root} --prefix /opt/nmslite`);
    assert.equal(r.code, 0, r.stderr);
    const unit = readFileSync(join(root, 'etc/systemd/system/nmslite-agent.service'), 'utf8');
    assert.match(unit, /^ExecStart=\/opt\/nmslite\/bin\/nmslite-agent run --home \/var\/lib\/nmslite-agent$/m);
    assert.match(unit, /^User=nmslite-agent$/m);
    assert.ok(existsSync(join(root, 'opt/nmslite/bin/nmslite-agent')));
    assert.match(r.stderr, /not started: --root/);
  });

  test("the written unit passes systemd's own checks (systemd-analyze verify)", {
    skip: skipUnlessRequired(noSystemdAnalyze),
    timeout: 60_000,
  }, async () => {
    const created = await s.api('POST', '/api/v1/agents', { name: 'verify-site' });
    const root = newRoot();
    const r = await runInstall(created.body.install.linux, `--root ${root} --prefix /opt/nmslite`);
    assert.equal(r.code, 0, r.stderr);
    // verify resolves the unit's dependencies (multi-user.target, network-online.target, ...) and its
    // ExecStart under --root: give the root this machine's stock units beside the installed agent.
    cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    const v = await run('systemd-analyze', ['verify', '--man=no', `--root=${root}`, 'nmslite-agent.service']).then(
      (x) => ({ code: 0, stderr: x.stderr }),
      (e: { code?: number; stderr?: string }) => ({ code: e.code ?? 1, stderr: e.stderr ?? String(e) }),
    );
    // Unknown keys and bad values are warnings with exit 0: the output must be empty too.
    assert.deepEqual(v, { code: 0, stderr: '' });
  });

  test('the token is never accepted on the command line, and an unset variable fails before any download', async () => {
    const created = await s.api('POST', '/api/v1/agents', { name: 'argv-site' });
    const root = newRoot();
    const cmd: string = created.body.install.linux;
    const withArgv = await runInstall(cmd, `--root ${root} --token abc`);
    assert.notEqual(withArgv.code, 0);
    assert.match(withArgv.stderr, /never taken from the command line/);
    const unset = await runInstall(cmd.replace(/NMSLITE_ENROLL_TOKEN='[^']*' /, ''), `--root ${root}`);
    assert.notEqual(unset.code, 0);
    assert.match(unset.stderr, /NMSLITE_ENROLL_TOKEN is empty or not set/);
    assert.deepEqual(readdirSync(root), [], 'nothing written');
  });

  test('a wrong pin makes curl refuse the connection: nothing runs, nothing is installed', async () => {
    const created = await s.api('POST', '/api/v1/agents', { name: 'wrong-pin-site' });
    const root = newRoot();
    const wrong = created.body.install.linux.replace(
      /sha256\/\/[A-Za-z0-9+/=]+/,
      `sha256//${createHash('sha256').update('another key').digest('base64')}`,
    );
    const r = await runInstall(wrong, `--no-service --root ${root}`);
    assert.equal(r.code, 90, `curl exit 90 (pinned public key mismatch): ${r.stderr}`);
    assert.match(r.stderr, /pinned public key/i);
    assert.deepEqual(readdirSync(root), []);
    assert.equal((await s.api('GET', `/api/v1/agents/${created.body.agent.id}`)).body.status, 'pending');
  });

  test('a tampered binary (served bytes differ from the announced SHA-256) fails the script and installs nothing', {
    timeout: 60_000,
  }, async () => {
    const created = await s.api('POST', '/api/v1/agents', { name: 'tampered-site' });
    const announced = sha256(binary);
    // Flip one byte in place and restore the modification time: the server still announces the old SHA-256.
    const fd = openSync(binary, 'r+');
    const offset = Math.floor(statSync(binary).size / 2);
    const b = Buffer.alloc(1);
    readFileSync(binary).copy(b, 0, offset, offset + 1);
    writeSync(fd, Buffer.from([b[0]! ^ 0xff]), 0, 1, offset);
    closeSync(fd);
    utimesSync(binary, FIXED_MTIME, FIXED_MTIME);
    const root = newRoot();
    const r = await runInstall(created.body.install.linux, `--no-service --root ${root}`);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      new RegExp(`SHA-256 mismatch for agent-linux-x64: expected ${announced}, got ${sha256(binary)}`),
    );
    assert.match(r.stderr, /nothing was installed/);
    assert.ok(!existsSync(join(root, 'usr/local/bin/nmslite-agent')));
    assert.ok(!existsSync(join(root, 'var/lib/nmslite-agent/identity.json')));
    assert.equal(
      (await s.api('GET', `/api/v1/agents/${created.body.agent.id}`)).body.status,
      'pending',
      'the token was not spent',
    );
  });
});

describe('a server without agent binaries', { skip }, () => {
  let s: TestServer;
  let root: string;
  before(async () => {
    root = mkdtempSync('/tmp/nmslite-install-root-');
    const port = await freePort();
    s = await startTestServer({
      server: { host: '127.0.0.1', port, public_url: `https://127.0.0.1:${port}` },
      install: { agents_dir: join(root, 'no-such-dir'), requests_per_minute: 8 },
    });
  });
  after(async () => {
    await s?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test('says the binaries are not built: no commands, a 404 with the reason, the script fails clearly, requests limited', async () => {
    const created = await s.api('POST', '/api/v1/agents', { name: 'no-binaries' });
    assert.equal(created.body.install.linux, null);
    assert.equal(created.body.install.windows, null);
    assert.ok(created.body.install.notes.some((n: string) => /no Linux agent binary is built on this server/.test(n)));
    const bin = await s.api('GET', '/install/agent-linux-x64', undefined, null);
    assert.equal(bin.status, 404);
    assert.match(bin.body.error.message, /not built on this server: run `npm run build:agent`/);
    assert.deepEqual((await s.api('GET', '/install/manifest.json', undefined, null)).body.files, []);
    const script = (await s.api('GET', '/install/agent.sh', undefined, null)).body as string;
    mkdirSync(join(root, 'r'));
    const r = await run('sh', ['-c', `printf '%s' "$SCRIPT" | sh -s -- --token-env T --no-service --root ${root}/r`], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SCRIPT: script, T: created.body.enrollment_token },
    }).then(
      () => ({ stderr: '', failed: false }),
      (e: { stderr: string }) => ({ stderr: e.stderr, failed: true }),
    );
    assert.ok(r.failed);
    assert.match(r.stderr, /has no agent binary for linux-x64 \(not built there/);
    // 3 /install requests so far; the limit is 8 a minute from one address.
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await s.api('GET', '/install/manifest.json', undefined, null)).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
  });
});

const noShellcheck = existsSync('/usr/bin/shellcheck')
  ? undefined
  : 'shellcheck not installed (apt-get install shellcheck; .ci/run installs it)';
test('the install script passes shellcheck as POSIX sh', { skip: skipUnlessRequired(noShellcheck) }, async () => {
  await run('shellcheck', ['-s', 'sh', join(ROOT, 'server/install/agent.sh')]);
});
