import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFixture, test } from '../../helpers/fixtures.ts';
import { md4 } from './md4.ts';
import { createNtlmAcceptor, createSealingSession, sealingKeys } from './ntlm-server.ts';
import { Rc4 } from './rc4.ts';
import { decodeEncryptedBody, encodeEncryptedBody } from './wsmv-framing.ts';

const vectors = JSON.parse(readFixture('ntlm/ms-nlmp-4.2-vectors.json', 'utf8'));
const v2 = vectors.ntlmv2_4_2_4 as Record<string, { hex: string }>;
const hex = (k: string): Buffer => Buffer.from(v2[k]!.hex, 'hex');

test('MD4 gives the MS-NLMP NT hash of "Password"', () => {
  assert.equal(md4(Buffer.from('Password', 'utf16le')).toString('hex'), vectors.ntlmv1_4_2_2.NTOWFv1_nt_hash.hex);
});

/** AUTHENTICATE_MESSAGE for the MS-NLMP 4.2.4 example (User / Domain / COMPUTER). */
function authenticateMessage(): Buffer {
  const fields = [
    hex('lmv2_response'),
    hex('ntlmv2_response'),
    Buffer.from('Domain', 'utf16le'),
    Buffer.from('User', 'utf16le'),
    Buffer.from('COMPUTER', 'utf16le'),
    hex('encrypted_random_session_key'),
  ];
  const head = Buffer.alloc(88);
  head.write('NTLMSSP\0', 0, 'latin1');
  head.writeUInt32LE(3, 8);
  let off = head.length;
  fields.forEach((f, i) => {
    head.writeUInt16LE(f.length, 12 + i * 8);
    head.writeUInt16LE(f.length, 14 + i * 8);
    head.writeUInt32LE(off, 16 + i * 8);
    off += f.length;
  });
  head.writeUInt32LE(0xe28a8233, 60);
  return Buffer.concat([head, ...fields]);
}

test('an NTLMv2 AUTHENTICATE from the MS-NLMP 4.2.4 example verifies and yields its session keys', () => {
  const acceptor = createNtlmAcceptor({ computerName: 'Server' });
  const pending = { serverChallenge: Buffer.from('0123456789abcdef', 'hex'), flags: 0xe28a8233 };
  const ok = acceptor.authenticate(pending, authenticateMessage(), 'Password');
  assert.ok(ok);
  assert.equal(ok.user, 'User');
  assert.equal(ok.domain, 'Domain');
  const keys = sealingKeys(Buffer.from('55'.repeat(16), 'hex'), 0xe28a8233);
  assert.equal(keys.c2sSeal.toString('hex'), v2.client_seal_key!.hex);
  assert.equal(keys.c2sSign.toString('hex'), v2.client_sign_key!.hex);
  assert.equal(keys.s2cSeal.toString('hex'), v2.server_seal_key!.hex);
  assert.equal(keys.s2cSign.toString('hex'), v2.server_sign_key!.hex);
  // The session the acceptor built decrypts the spec's sealed "Plaintext" with its signature.
  const body = encodeEncryptedBody(hex('gss_wrap_signature'), hex('gss_wrap_sealed_plaintext'), 18);
  assert.equal(ok.session.decryptRequest(body).toString('utf16le'), 'Plaintext');
});

test('a wrong password or a replayed challenge fails verification', () => {
  const acceptor = createNtlmAcceptor({ computerName: 'Server' });
  const pending = { serverChallenge: Buffer.from('0123456789abcdef', 'hex'), flags: 0xe28a8233 };
  assert.equal(acceptor.authenticate(pending, authenticateMessage(), 'password'), undefined);
  const other = { serverChallenge: Buffer.from('0123456789abcdee', 'hex'), flags: 0xe28a8233 };
  assert.equal(acceptor.authenticate(other, authenticateMessage(), 'Password'), undefined);
});

test('the derived sealed WinRM requests decrypt to their plaintext, with the RC4 state continued', () => {
  const session = createSealingSession(Buffer.from('55'.repeat(16), 'hex'), 0xe28a8233);
  const desc = JSON.parse(readFixture('winrm/derived_ntlm_sealed_request_c2s.json', 'utf8'));
  for (const m of desc.messages as { body_file: string; plaintext_sha256: string; plaintext_length: number }[]) {
    const plain = session.decryptRequest(readFixture(`winrm/${m.body_file}`));
    assert.equal(plain.length, m.plaintext_length);
    assert.equal(createHash('sha256').update(plain).digest('hex'), m.plaintext_sha256);
  }
});

test('a tampered or replayed sealed request is refused', () => {
  const body = readFixture('winrm/derived_ntlm_sealed_request_c2s_seq0_body.bin');
  const tampered = Buffer.from(body);
  tampered[tampered.length - 40]! ^= 1;
  assert.throws(() => createSealingSession(Buffer.from('55'.repeat(16), 'hex'), 0xe28a8233).decryptRequest(tampered));
  const s = createSealingSession(Buffer.from('55'.repeat(16), 'hex'), 0xe28a8233);
  s.decryptRequest(body);
  assert.throws(() => s.decryptRequest(body), /mismatch/);
});

test('responses are sealed with the server-to-client keys and sequence numbers from 0', () => {
  const esk = Buffer.from('55'.repeat(16), 'hex');
  const s = createSealingSession(esk, 0xe28a8233);
  const keys = sealingKeys(esk, 0xe28a8233);
  const client = new Rc4(keys.s2cSeal);
  for (const [seq, text] of ['<a/>', '<bb/>'].entries()) {
    const { signature, sealed, length } = decodeEncryptedBody(s.encryptResponse(Buffer.from(text)));
    assert.equal(length, text.length);
    assert.equal(client.update(sealed).toString(), text);
    client.update(signature.subarray(4, 12));
    assert.equal(signature.readUInt32LE(12), seq);
    assert.equal(signature.readUInt32LE(0), 1);
  }
});
