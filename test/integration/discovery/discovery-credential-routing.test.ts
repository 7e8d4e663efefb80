import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { winrmFixture } from '../../helpers/fixtures.ts';
import { identifyHost } from '../../../agent/discovery/identify.ts';
import type { CollectCredential } from '../../../agent/collectors/collector.ts';

// A host that answers anonymous Identify as Windows on 5985 (HTTP) only, and records every
// Authorization header it is sent: discovery must not hand it a credential the profile meant elsewhere.
const IP = '127.88.0.1';
const IDENTIFY = winrmFixture('identify_response_win2012r2_stack3.xml');
const seen: string[] = [];
let server: Server;
before(async () => {
  server = createServer((req, res) => {
    req.resume();
    if (req.headers.authorization) seen.push(req.headers.authorization);
    if (req.headers.wsmanidentify === 'unauthenticated') {
      res.writeHead(200, { 'content-type': 'application/soap+xml;charset=UTF-8' });
      return void res.end(IDENTIFY);
    }
    res.writeHead(401, { 'www-authenticate': 'Basic realm="WSMAN"', 'content-length': '0' });
    res.end();
  });
  await new Promise<void>((r) => server.listen(5985, IP, r));
});
after(() => new Promise<void>((r) => server.close(() => r())));

const basic: CollectCredential = { type: 'winrm_basic', username: 'svc', password: 'Cle4r-Text!', tls_verify: 'verify' };
const ntlm: CollectCredential = { ...basic, type: 'winrm_ntlm' };

test('a profile for HTTPS on 5986 finds the host on 5985 but sends it no credential', async () => {
  seen.length = 0;
  const host = await identifyHost({ ip: IP, openPorts: [5985], credential: basic, prefer: { port: 5986, use_ssl: true }, timeoutMs: 3000 });
  assert.deepEqual([host?.port, host?.use_ssl, host?.hostname, host?.error], [5985, false, null, undefined], 'found as Windows, not queried');
  assert.deepEqual(seen, [], 'no Authorization header');
});

test('without a preferred listener Basic is not sent over HTTP, NTLM is', async () => {
  seen.length = 0;
  await identifyHost({ ip: IP, openPorts: [5985], credential: basic, timeoutMs: 3000 });
  assert.equal(seen.length, 0, 'no Basic in clear text');
  await identifyHost({ ip: IP, openPorts: [5985], credential: ntlm, timeoutMs: 3000 });
  assert.ok(seen.length > 0 && seen.every((h) => h.startsWith('Negotiate ')), `NTLM only: ${seen.map((h) => h.split(' ')[0]).join(',')}`);
});

test('a profile that chose HTTP on 5985 with Basic: the host is found, the password is not sent in clear text, and the reason is reported', async () => {
  seen.length = 0;
  const host = await identifyHost({ ip: IP, openPorts: [5985], credential: basic, prefer: { port: 5985, use_ssl: false }, timeoutMs: 3000 });
  assert.equal(seen.length, 0, 'no Authorization header');
  assert.equal(host?.error?.class, 'auth', 'reported as an auth problem');
  assert.match(host?.error?.message ?? '', /clear text/, 'saying why');
});
