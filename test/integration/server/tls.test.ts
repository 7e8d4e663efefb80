import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadOrCreateTls, SELF_SIGNED_VALIDITY_DAYS, selfSignedNames } from '../../../server/tls.ts';
import { postJson } from '../../../agent/link/https-json.ts';
import { DIRECT } from '../../../agent/link/proxy.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'nmslite-tls-'));

test('a generated certificate: ECDSA P-256, SANs for the defaults and the configured names, ten years, key 0600', async () => {
  const dataDir = tmp();
  const tls = await loadOrCreateTls({ dataDir, names: ['0.0.0.0', 'nms.example.com', '10.1.2.3', '[::1]'] });
  assert.equal(tls.generated, true);
  assert.equal(statSync(join(dataDir, 'tls', 'server.key')).mode & 0o777, 0o600);
  const x = new X509Certificate(tls.cert);
  assert.equal(x.subject, 'CN=nmslite');
  assert.equal(
    x.subjectAltName,
    'DNS:localhost, IP Address:127.0.0.1, DNS:nms.example.com, IP Address:10.1.2.3, IP Address:0:0:0:0:0:0:0:1',
  );
  for (const h of ['localhost', 'nms.example.com']) assert.equal(x.checkHost(h), h);
  for (const ip of ['127.0.0.1', '10.1.2.3', '::1']) assert.equal(x.checkIP(ip), ip);
  assert.equal(x.checkHost('other.example.com'), undefined);
  assert.equal(x.publicKey.asymmetricKeyType, 'ec');
  assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(x.verify(x.publicKey), 'self-signed: verifies with its own key');
  assert.ok(x.checkPrivateKey(createPrivateKey(tls.key)), 'the key file belongs to the certificate');
  assert.equal(x.ca, false);
  const days = (Date.parse(x.validTo) - Date.parse(x.validFrom)) / 86_400_000;
  assert.ok(Math.abs(days - SELF_SIGNED_VALIDITY_DAYS) < 1, `valid ${days} days`);
  assert.ok(Date.parse(x.validFrom) <= Date.now(), 'valid from now');
  assert.equal(tls.fingerprint, createHash('sha256').update(x.raw).digest('hex'));
  assert.deepEqual(selfSignedNames([undefined, '', '::', 'LOCALHOST']), ['localhost', '127.0.0.1']);
});

test('a restart reuses the generated certificate (same fingerprint, files untouched)', async () => {
  const dataDir = tmp();
  const first = await loadOrCreateTls({ dataDir });
  const before = readFileSync(join(dataDir, 'tls', 'server.key'));
  const again = await loadOrCreateTls({ dataDir, names: ['changed.example.com'] });
  assert.equal(again.generated, false);
  assert.equal(again.fingerprint, first.fingerprint);
  assert.deepEqual(readFileSync(join(dataDir, 'tls', 'server.key')), before);
});

test("Node's TLS accepts the generated certificate for its names, and an agent pins it", async () => {
  const tls = await loadOrCreateTls({ dataDir: tmp() });
  const srv = createHttpsServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  try {
    for (const servername of ['localhost', undefined]) {
      // Verified against the certificate itself as the only CA: chain, validity and the name (or 127.0.0.1) all checked.
      const sock = await new Promise<TLSSocket>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port, ca: tls.cert, ...(servername ? { servername } : {}) }, () =>
          resolve(s),
        );
        s.once('error', reject);
      });
      assert.equal(sock.authorized, true, `authorized for ${servername ?? '127.0.0.1'}`);
      assert.equal(createHash('sha256').update(sock.getPeerCertificate().raw).digest('hex'), tls.fingerprint);
      sock.destroy();
    }
    const url = new URL(`https://127.0.0.1:${port}/api/v1/agents/enroll`);
    const ok = await postJson(url, { token: 'x' }, { proxy: DIRECT, pin: tls.fingerprint });
    assert.equal(ok.status, 200);
    assert.equal(ok.fingerprint, tls.fingerprint);
    await assert.rejects(postJson(url, { token: 'x' }, { proxy: DIRECT, pin: 'ab'.repeat(32) }), {
      name: 'PinMismatchError',
    });
  } finally {
    srv.close();
  }
});

test('configured certificate files: both or neither, and a file that is no certificate is a clear error', async () => {
  const dir = tmp();
  await assert.rejects(loadOrCreateTls({ dataDir: dir, certFile: '/x.crt' }), /must be set together/);
  writeFileSync(join(dir, 'bad.crt'), 'not a certificate');
  writeFileSync(join(dir, 'bad.key'), 'not a key');
  await assert.rejects(
    loadOrCreateTls({ dataDir: dir, certFile: join(dir, 'bad.crt'), keyFile: join(dir, 'bad.key') }),
    /is not a PEM or DER X\.509 certificate/,
  );
  await assert.rejects(
    loadOrCreateTls({ dataDir: dir, certFile: join(dir, 'none.crt'), keyFile: join(dir, 'none.key') }),
    /cannot be read/,
  );
});
