import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { channelBindingHashAlgorithm } from './cert-hash.ts';
import { channelBindingsHash } from './crypto.ts';

/** A throw-away self-signed certificate made by the openssl CLI with the given key and signature options. */
function certificate(args: string[]): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'cbt-'));
  try {
    const out = join(dir, 'c.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', ...args, '-nodes', '-keyout', join(dir, 'k.pem'), '-out', out, '-days', '1', '-subj', '/CN=cbt'],
      { stdio: 'ignore' },
    );
    return new X509Certificate(readFileSync(out)).raw;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const cases: [string, string[], string][] = [
  ['RSA with SHA-256', ['-newkey', 'rsa:2048', '-sha256'], 'sha256'],
  ['RSA with SHA-512', ['-newkey', 'rsa:2048', '-sha512'], 'sha512'],
  ['RSA with SHA-1 (upgraded to SHA-256)', ['-newkey', 'rsa:2048', '-sha1'], 'sha256'],
  ['ECDSA P-384 with SHA-384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-sha384'], 'sha384'],
  ['RSASSA-PSS with SHA-384', ['-newkey', 'rsa:2048', '-sigopt', 'rsa_padding_mode:pss', '-sha384'], 'sha384'],
];

for (const [name, args, hash] of cases) {
  test(`channel binding (RFC 5929 tls-server-end-point) of a certificate signed ${name} hashes it with ${hash}`, () => {
    const der = certificate(args);
    assert.equal(channelBindingHashAlgorithm(der), hash, 'hash algorithm');
    // gss_channel_bindings_struct: four zero address fields, then the length-prefixed application data.
    const app = Buffer.concat([Buffer.from('tls-server-end-point:'), createHash(hash).update(der).digest()]);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(app.length);
    const expected = createHash('md5')
      .update(Buffer.concat([Buffer.alloc(16), len, app]))
      .digest();
    assert.deepEqual(channelBindingsHash(der), expected, 'MsvAvChannelBindings value');
  });
}

test('an unreadable certificate falls back to SHA-256 instead of throwing', () => {
  assert.equal(channelBindingHashAlgorithm(Buffer.from([0x30, 0x82, 0xff])), 'sha256', 'truncated DER');
  assert.equal(channelBindingHashAlgorithm(Buffer.alloc(0)), 'sha256', 'empty');
});
