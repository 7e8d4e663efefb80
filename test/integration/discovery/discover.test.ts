import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { startWinsim, type Winsim } from '../../winsim/index.ts';
import { discover, type DiscoveryProgress } from '../../../agent/discovery/discover.ts';
import { sweep, defaultPingMethod } from '../../../agent/discovery/sweep.ts';
import { TargetError } from '../../../shared/targets.ts';
import type { CredentialPayload } from '../../../shared/protocol/index.ts';
import { findExecutable } from '../../../agent/discovery/ping-method.ts';
import { skipUnlessRequired } from '../../helpers/skip.ts';

// A loopback /24 of our own: 19 hosts over HTTP, 1 over HTTPS, a web server that is not
// WinRM on 5985, something on 135 only, and 232 addresses where nothing listens.
const NET = '127.77.0';
const PASSWORD = 'Disc0very!pw';
let plain: Winsim;
let secure: Winsim;
let notWinrm: HttpServer;
let rpcOnly: TcpServer;

// NTLM, as Windows hosts accept by default (Basic is never sent in clear text to a listener the profile did not choose).
const credential: CredentialPayload = {
  type: 'winrm_ntlm',
  username: 'Administrator',
  password: PASSWORD,
  tls_verify: 'insecure',
};

function listen(server: HttpServer | TcpServer, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

before(async () => {
  plain = await startWinsim({
    hosts: 19,
    bind: `${NET}.1`,
    distinctAddresses: true,
    portBase: 5985,
    password: PASSWORD,
    auth: 'both',
    seed: 7,
    faults: { unencryptedRefused: false },
  });
  secure = await startWinsim({
    hosts: 1,
    bind: `${NET}.20`,
    distinctAddresses: true,
    portBase: 5986,
    https: true,
    password: PASSWORD,
    auth: 'both',
    seed: 8,
    os: '2022',
  });
  notWinrm = createHttpServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'text/html' });
    res.end('<html>not here</html>');
  });
  await listen(notWinrm, `${NET}.40`, 5985);
  rpcOnly = createTcpServer((s) => s.destroy());
  // Port 135 needs root; without it the RPC-only host is simply absent (still not Windows-over-WinRM).
  await listen(rpcOnly, `${NET}.41`, 135).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EACCES') throw e;
  });
});

after(async () => {
  await Promise.all([
    plain?.stop(),
    secure?.stop(),
    new Promise((r) => notWinrm?.close(r)),
    new Promise((r) => (rpcOnly?.listening ? rpcOnly.close(r) : r(undefined))),
  ]);
});

test('the ping sweep reports loopback addresses as alive', {
  skip: skipUnlessRequired(
    defaultPingMethod() === 'none' ? 'needs fping or ping (apt-get install fping iputils-ping)' : undefined,
  ),
}, async () => {
  const r = await sweep([`${NET}.1`, `${NET}.2`, `${NET}.200`], { timeoutMs: 300 });
  assert.notEqual(r.method, 'none', 'install fping or iputils-ping');
  assert.deepEqual([...r.alive].sort(), [`${NET}.1`, `${NET}.2`, `${NET}.200`]);
});

test('discovery of a /24 finds exactly the Windows hosts, with hostname, OS and listener, within 10 s', {
  skip: skipUnlessRequired(
    findExecutable('fping') ? undefined : 'needs fping for a sweep this fast (apt-get install fping)',
  ),
}, async () => {
  const progress: DiscoveryProgress[] = [];
  const t0 = Date.now();
  // The profile opted in to authenticating over HTTP and unchecked HTTPS (authenticate_unverified).
  const r = await discover({
    target: `${NET}.0/24`,
    credential,
    authenticateUnverified: true,
    concurrency: 64,
    perHostTimeoutMs: 3000,
    onProgress: (p) => progress.push(p),
  });
  const elapsed = Date.now() - t0;
  console.log(
    `# discovery of ${r.total} addresses (${r.found.length} Windows) took ${elapsed} ms via ${r.ping_method}`,
  );
  assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
  assert.equal(r.total, 254);
  assert.equal(r.scanned, 254);
  assert.equal(r.cancelled, false);
  const expected = [...plain.hosts, ...secure.hosts];
  assert.deepEqual(
    r.found.map((h) => h.ip),
    expected.map((h) => h.address),
  );
  for (const h of expected) {
    const f = r.found.find((x) => x.ip === h.address)!;
    assert.equal(f.error, undefined, `${h.address}: ${f.error?.message}`);
    // DNSHostName keeps the case the name was configured in; Name is the upper-case NetBIOS name.
    assert.equal(f.hostname?.toUpperCase(), h.hostname.toUpperCase());
    assert.equal(f.os, h.sim.profile.caption);
    assert.equal(f.os_version, h.sim.profile.os.version);
    assert.equal(f.winrm_stack, h.sim.profile.os.stack);
    assert.equal(f.port, h.tls ? 5986 : 5985);
    assert.equal(f.use_ssl, h.tls);
  }
  const last = progress[progress.length - 1]!;
  assert.deepEqual(last, { scanned: 254, total: 254, found: 20 });
});

test('a wrong password still finds the hosts and says authentication failed', async () => {
  const r = await discover({
    target: `${NET}.1-3`,
    credential: { ...credential, password: 'Bad-Pa55word' },
    authenticateUnverified: true,
    perHostTimeoutMs: 3000,
  });
  assert.deepEqual(
    r.found.map((h) => h.ip),
    [`${NET}.1`, `${NET}.2`, `${NET}.3`],
  );
  for (const [i, f] of r.found.entries()) {
    assert.equal(f.hostname, plain.hosts[i]!.hostname.toLowerCase(), 'named from the NTLM CHALLENGE');
    assert.equal(f.os, null);
    assert.equal(f.error?.class, 'auth');
    assert.equal(f.winrm_stack, '3.0');
    assert.ok(!JSON.stringify(f).includes('Bad-Pa55word'));
  }
});

test('without a credential hosts are recognised by anonymous Identify and named by their NTLM CHALLENGE', async () => {
  const r = await discover({ target: `${NET}.1,${NET}.40,${NET}.41,${NET}.99`, credential: null });
  // winsim's CHALLENGE claims Windows 10.0 build 17739 whatever the host's profile says.
  assert.deepEqual(r.found, [
    {
      ip: `${NET}.1`,
      port: 5985,
      use_ssl: false,
      hostname: plain.hosts[0]!.hostname.toLowerCase(),
      os: null,
      os_version: '10.0.17739',
      winrm_stack: '3.0',
    },
  ]);
  assert.equal(r.scanned, 4);
});

test('by default the credential goes only to an HTTPS host whose certificate is pinned or verified', async () => {
  const s = secure.hosts[0]!;
  const targets = `${NET}.1,${NET}.2,${s.address}`;
  const pinned = await discover({
    target: targets,
    credential: { ...credential, tls_verify: 'pin', tls_fingerprint: s.fingerprint! },
    perHostTimeoutMs: 3000,
  });
  assert.deepEqual(
    pinned.found.map((h) => [h.ip, h.os]),
    [
      [`${NET}.1`, null],
      [`${NET}.2`, null],
      [s.address, s.sim.profile.caption],
    ],
    'only the proven host was queried',
  );
  const proven = pinned.found[2]!;
  assert.equal(proven.hostname?.toUpperCase(), s.hostname.toUpperCase());
  assert.equal(proven.os_version, s.sim.profile.os.version);
  assert.equal(proven.error, undefined);
  const unchecked = await discover({ target: s.address, credential, perHostTimeoutMs: 3000 });
  assert.deepEqual(
    unchecked.found.map((h) => [h.os, h.hostname, h.error]),
    [[null, s.hostname.toLowerCase(), undefined]],
    'HTTPS without a certificate check is not proof',
  );
});

test('port_scan probes every address without a ping sweep', async () => {
  const r = await discover({ target: `${NET}.1-5`, portScan: true, credential });
  assert.equal(r.ping_method, 'skipped');
  assert.deepEqual(
    r.found.map((h) => h.hostname?.toUpperCase()),
    plain.hosts.slice(0, 5).map((h) => h.hostname.toUpperCase()),
  );
});

test('hosts that do not answer ping are found only with port_scan', async () => {
  // Loopback always answers ICMP; a sweep that hears nothing stands in for a firewalled subnet.
  const silent = async () => ({ alive: new Set<string>(), method: 'fping' as const });
  const without = await discover({ target: `${NET}.1-4`, credential, sweepFn: silent });
  assert.equal(without.found.length, 0);
  assert.equal(without.scanned, 4);
  const withScan = await discover({ target: `${NET}.1-4`, credential, portScan: true, sweepFn: silent });
  assert.deepEqual(
    withScan.found.map((h) => h.ip),
    [`${NET}.1`, `${NET}.2`, `${NET}.3`, `${NET}.4`],
  );
});

test('the ping package is used when fping is not wanted', {
  skip: skipUnlessRequired(defaultPingMethod() === 'none' ? 'needs ping (apt-get install iputils-ping)' : undefined),
}, async () => {
  const r = await discover({ target: `${NET}.1-6`, credential, pingMethod: 'ping' });
  assert.equal(r.ping_method, 'ping');
  assert.equal(r.found.length, 6);
});

test('a /16 discovery reports throttled progress and stops promptly when cancelled', async () => {
  const ac = new AbortController();
  const progress: { at: number; p: DiscoveryProgress }[] = [];
  const run = discover({
    target: '127.78.0.0/16',
    credential,
    signal: ac.signal,
    progressIntervalMs: 250,
    onProgress: (p) => {
      progress.push({ at: Date.now(), p });
      if (progress.length === 3) ac.abort();
    },
  });
  const r = await run;
  const stoppedAfter = Date.now() - progress[2]!.at;
  assert.equal(r.cancelled, true);
  assert.equal(r.total, 65_534);
  assert.ok(r.scanned > 0 && r.scanned < r.total, `scanned ${r.scanned}`);
  assert.ok(stoppedAfter < 2000, `stopped ${stoppedAfter} ms after cancel`);
  for (let i = 1; i < 3; i++) {
    assert.ok(progress[i]!.at - progress[i - 1]!.at >= 240, 'progress not throttled');
    assert.ok(progress[i]!.p.scanned >= progress[i - 1]!.p.scanned);
    assert.equal(progress[i]!.p.total, 65_534);
  }
  assert.equal(progress[progress.length - 1]!.p.scanned, r.scanned, 'the final progress matches the result');
});

test('a target outside the limits is refused before anything is sent', async () => {
  await assert.rejects(
    discover({ target: '127.0.0.0/8', credential }),
    (e: unknown) => e instanceof TargetError && /16,777,216/.test(e.message),
  );
});
