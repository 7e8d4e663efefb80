import { readFixture, test } from '../../../test/helpers/fixtures.ts';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { clientBlob, computeV2Responses, deriveSessionKeys, encryptSessionKey, ntHash, ntowfV2 } from './crypto.ts';
import { parseAvPairs, parseChallenge } from './messages.ts';
import { createNtlmSession } from './session.ts';
import { decodeEncryptedMessage, encodeEncryptedMessage, splitEncryptedMessage } from './encrypted-message.ts';
import { createNtlmClient } from './client.ts';

const vectors = JSON.parse(readFixture(`ntlm/ms-nlmp-4.2-vectors.json`, 'utf8'));
const common = vectors.common_inputs_4_2_1;
const v2 = vectors.ntlmv2_4_2_4;
const hex = (s: string) => Buffer.from(s, 'hex');

test('NT hash and NTOWFv2 match MS-NLMP 4.2.2.1.2 and 4.2.4.1.1', () => {
  assert.equal(ntHash(common.password.text).toString('hex'), vectors.ntlmv1_4_2_2.NTOWFv1_nt_hash.hex);
  assert.equal(
    ntowfV2(common.password.text, common.user.text, common.user_domain.text).toString('hex'),
    v2.NTOWFv2_response_key_nt.hex,
  );
});

test('NTLMv2 responses, session base key and key exchange match MS-NLMP 4.2.4', () => {
  const key = ntowfV2(common.password.text, common.user.text, common.user_domain.text);
  const blob = clientBlob(hex(common.time.hex), hex(common.client_challenge.hex), hex(v2.target_info_av_pairs.hex));
  assert.equal(blob.toString('hex'), v2.temp_client_blob.hex);
  const r = computeV2Responses(key, hex(common.server_challenge.hex), hex(common.client_challenge.hex), blob);
  assert.equal(r.ntProofStr.toString('hex'), v2.NTProofStr.hex);
  assert.equal(r.ntChallengeResponse.toString('hex'), v2.ntlmv2_response.hex);
  assert.equal(r.lmChallengeResponse.toString('hex'), v2.lmv2_response.hex);
  assert.equal(r.sessionBaseKey.toString('hex'), v2.session_base_key.hex);
  assert.equal(
    encryptSessionKey(r.sessionBaseKey, hex(v2.exported_session_key.hex)).toString('hex'),
    v2.encrypted_random_session_key.hex,
  );
});

test('sign and seal keys match MS-NLMP 4.2.4.4 for both directions', () => {
  const k = deriveSessionKeys(hex(v2.exported_session_key.hex));
  assert.equal(k.clientSeal.toString('hex'), v2.client_seal_key.hex);
  assert.equal(k.clientSign.toString('hex'), v2.client_sign_key.hex);
  assert.equal(k.serverSeal.toString('hex'), v2.server_seal_key.hex);
  assert.equal(k.serverSign.toString('hex'), v2.server_sign_key.hex);
});

test('sealing "Plaintext" gives the MS-NLMP 4.2.4.4 sealed bytes and signature', () => {
  const s = createNtlmSession(hex(v2.exported_session_key.hex), false);
  const { sealed, signature } = s.seal(hex(common.plaintext_for_wrap.utf16le_hex));
  assert.equal(sealed.toString('hex'), v2.gss_wrap_sealed_plaintext.hex);
  assert.equal(signature.toString('hex'), v2.gss_wrap_signature.hex);
});

test('the derived sealed WinRM requests decrypt to the captured SOAP plaintexts', () => {
  const desc = JSON.parse(readFixture(`winrm/derived_ntlm_sealed_request_c2s.json`, 'utf8'));
  const server = createNtlmSession(hex(desc.ntlm_params.exported_session_key), true);
  const client = createNtlmSession(hex(desc.ntlm_params.exported_session_key), false);
  for (const m of desc.messages) {
    const body = readFixture(`winrm/${m.body_file}`);
    assert.equal(body.length, m.body_length);
    const parts = splitEncryptedMessage(body);
    assert.equal(parts.signature.toString('hex'), m.signature_hex);
    const plain = decodeEncryptedMessage(server, body);
    assert.equal(plain.length, m.plaintext_length);
    assert.equal(createHash('sha256').update(plain).digest('hex'), m.plaintext_sha256);
    const expectedPlain = readFixture(`winrm/${m.plaintext_file}`);
    assert.deepEqual(plain, expectedPlain);
    // Our own framing of the same plaintext, with the same key and sequence, is byte-identical.
    assert.deepEqual(encodeEncryptedMessage(client, expectedPlain), body);
  }
});

test('a tampered or replayed sealed message is rejected', () => {
  const key = hex(v2.exported_session_key.hex);
  const client = createNtlmSession(key, false);
  const server = createNtlmSession(key, true);
  const body = encodeEncryptedMessage(client, Buffer.from('<s:Envelope/>'));
  const bad = Buffer.from(body);
  bad[bad.length - 30]! ^= 1;
  assert.throws(() => decodeEncryptedMessage(server, bad), /signature/);
  const c2 = createNtlmSession(key, false);
  const s2 = createNtlmSession(key, true);
  const first = encodeEncryptedMessage(c2, Buffer.from('one'));
  assert.equal(decodeEncryptedMessage(s2, first).toString(), 'one');
  assert.throws(() => decodeEncryptedMessage(s2, first), /sequence|signature/);
  assert.throws(() => splitEncryptedMessage(Buffer.from('garbage')), /boundary/);
});

test('the client reproduces the NTProofStr of a real captured AUTHENTICATE', () => {
  const cap = vectors.real_captured_exchange_pyspnego;
  const challenge = parseChallenge(hex(cap.challenge_message));
  assert.equal(challenge.serverChallenge.toString('hex'), cap.server_challenge);
  const auth = hex(cap.authenticate_message);
  const ntLen = auth.readUInt16LE(20);
  const ntOff = auth.readUInt32LE(24);
  const nt = auth.subarray(ntOff, ntOff + ntLen);
  const blob = nt.subarray(16);
  const user = cap.user.split(' ')[0];
  const key = ntowfV2(cap.password, user, '');
  assert.equal(key.toString('hex'), cap.derived_by_research.ntowfv2);
  const r = computeV2Responses(key, challenge.serverChallenge, Buffer.alloc(8), blob);
  assert.equal(r.ntProofStr.toString('hex'), cap.ntproofstr);
  assert.equal(r.sessionBaseKey.toString('hex'), cap.derived_by_research.session_base_key);
  assert.equal(
    encryptSessionKey(r.sessionBaseKey, hex(cap.exported_session_key.hex)).toString('hex'),
    cap.encrypted_random_session_key,
  );
});

test('authenticate answers a real Windows challenge with NTLMv2, a MIC and the key exchange', () => {
  const cap = vectors.real_captured_exchange_pyspnego;
  const exportedSessionKey = Buffer.alloc(16, 7);
  const ctx = createNtlmClient(
    { username: 'vagrant', password: cap.password, domain: 'DOMAIN' },
    { exportedSessionKey },
  );
  const neg = ctx.negotiate();
  const auth = ctx.authenticate(hex(cap.challenge_message));
  assert.equal(auth.subarray(0, 8).toString('latin1'), 'NTLMSSP\0');
  assert.equal(auth.readUInt32LE(8), 3);
  const ntLen = auth.readUInt16LE(20);
  const ntOff = auth.readUInt32LE(24);
  const blob = auth.subarray(ntOff + 16, ntOff + ntLen);
  const pairs = parseAvPairs(blob.subarray(28));
  const flags = pairs.find((p) => p.id === 6)!.value.readUInt32LE(0);
  assert.equal(flags & 2, 2, 'MIC present flag');
  // The server side can recompute everything from the password: NTProofStr → session key → MIC.
  const key = ntowfV2(cap.password, 'vagrant', 'DOMAIN');
  const r = computeV2Responses(key, hex(cap.server_challenge), blob.subarray(16, 24), blob);
  assert.deepEqual(auth.subarray(ntOff, ntOff + 16), r.ntProofStr);
  const ekLen = auth.readUInt16LE(52);
  const ekOff = auth.readUInt32LE(56);
  assert.deepEqual(encryptSessionKey(r.sessionBaseKey, auth.subarray(ekOff, ekOff + ekLen)), exportedSessionKey);
  assert.ok(neg.length === 40);
});
