import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { winrmFixture } from '../../helpers/fixtures.ts';
import { createNtlmAcceptor } from '../../winsim/ntlm/ntlm-server.ts';
import { identifyHost } from '../../../agent/discovery/identify.ts';
import type { CredentialPayload } from '../../../shared/protocol/index.ts';

// An impostor on 5985 (HTTP): it answers anonymous Identify as Windows and NTLM NEGOTIATE with a
// real CHALLENGE, and records every Authorization header it is sent. An AUTHENTICATE (NTLM type 3)
// would give it an NTLMv2 response to crack offline; a Basic header, the password itself.
const IP = '127.88.0.1';
const IDENTIFY = winrmFixture('identify_response_win2012r2_stack3.xml');
const acceptor = createNtlmAcceptor({ computerName: 'IMPOSTOR' });
const seen: string[] = [];
let server: Server;

/** The headers that carry something of the credential: Basic, or an NTLM AUTHENTICATE. */
const credentialBearing = (): string[] =>
  seen.filter((h) => {
    if (/^Basic /i.test(h)) return true;
    const m = /^Negotiate\s+(\S+)/i.exec(h);
    return m ? Buffer.from(m[1]!, 'base64').readUInt32LE(8) === 3 : true;
  });

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    const auth = req.headers.authorization;
    if (auth) seen.push(auth);
    if (req.headers.wsmanidentify === 'unauthenticated') {
      res.writeHead(200, { 'content-type': 'application/soap+xml;charset=UTF-8' });
      return void res.end(IDENTIFY);
    }
    const m = /^Negotiate\s+(\S+)/i.exec(auth ?? '');
    const token = m ? Buffer.from(m[1]!, 'base64') : undefined;
    if (token && token.readUInt32LE(8) === 1) {
      const { token: challenge } = acceptor.challenge(token);
      res.writeHead(401, { 'www-authenticate': `Negotiate ${challenge.toString('base64')}`, 'content-length': '0' });
      return void res.end();
    }
    res.writeHead(401, { 'www-authenticate': 'Negotiate', 'content-length': '0' });
    res.end();
  });
  await new Promise<void>((r) => server.listen(5985, IP, r));
});
after(() => new Promise<void>((r) => server.close(() => r())));

const basic: CredentialPayload = {
  type: 'winrm_basic',
  username: 'svc',
  password: 'Cle4r-Text!',
  tls_verify: 'verify',
};
const ntlm: CredentialPayload = { ...basic, type: 'winrm_ntlm' };

test('by default a host over HTTP gets no credential: its name and OS version come from its NTLM CHALLENGE', async () => {
  for (const credential of [ntlm, basic]) {
    seen.length = 0;
    const host = await identifyHost({ ip: IP, openPorts: [5985], credential, timeoutMs: 3000 });
    assert.deepEqual(host, {
      ip: IP,
      port: 5985,
      use_ssl: false,
      hostname: 'impostor',
      os: null,
      os_version: '10.0.17739',
      winrm_stack: '3.0',
    });
    assert.deepEqual(credentialBearing(), [], `${credential.type}: a credential was sent to an unproven host`);
    assert.ok(
      seen.some((h) => h.startsWith('Negotiate ')),
      'the NEGOTIATE was sent (it carries no secret)',
    );
  }
});

test('a profile for HTTPS on 5986 finds the host on 5985 but sends it no credential', async () => {
  seen.length = 0;
  const host = await identifyHost({
    ip: IP,
    openPorts: [5985],
    credential: ntlm,
    prefer: { port: 5986, use_ssl: true },
    authenticateUnverified: true,
    timeoutMs: 3000,
  });
  assert.deepEqual(
    [host?.port, host?.use_ssl, host?.hostname, host?.error],
    [5985, false, 'impostor', undefined],
    'found as Windows, not queried',
  );
  assert.deepEqual(credentialBearing(), []);
});

test('with authenticate_unverified the profile accepts the risk: NTLM is sent over HTTP, Basic still never in clear text', async () => {
  seen.length = 0;
  const b = await identifyHost({
    ip: IP,
    openPorts: [5985],
    credential: basic,
    prefer: { port: 5985, use_ssl: false },
    authenticateUnverified: true,
    timeoutMs: 3000,
  });
  assert.deepEqual(credentialBearing(), [], 'no Basic in clear text');
  assert.equal(b?.error?.class, 'auth', 'reported as an auth problem');
  assert.match(b?.error?.message ?? '', /clear text/, 'saying why');
  seen.length = 0;
  const n = await identifyHost({
    ip: IP,
    openPorts: [5985],
    credential: ntlm,
    authenticateUnverified: true,
    timeoutMs: 3000,
  });
  assert.equal(credentialBearing().length, 1, 'one AUTHENTICATE: the opted-in risk');
  assert.equal(n?.error?.class, 'auth');
  assert.equal(n?.hostname, 'impostor', 'the name from the CHALLENGE stays when the query fails');
});
