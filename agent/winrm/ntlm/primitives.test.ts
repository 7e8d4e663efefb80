import { test } from 'node:test';
import assert from 'node:assert/strict';
import { md4 } from './md4.ts';
import { Rc4 } from './rc4.ts';

test('md4 matches the RFC 1320 test suite', () => {
  const suite: [string, string][] = [
    ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
    ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
    ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
    ['message digest', 'd9130a8164549fe818874806e1c7014b'],
    ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
    ['1234567890'.repeat(8), 'e33b4ddc9c38f2199c3e7b164fcc0536'],
  ];
  for (const [input, hex] of suite) assert.equal(md4(Buffer.from(input, 'latin1')).toString('hex'), hex, input);
});

test('rc4 matches RFC 6229 keystream offsets 0 and 16 for key 0102030405', () => {
  const rc4 = new Rc4(Buffer.from('0102030405', 'hex'));
  const ks = rc4.update(Buffer.alloc(32));
  assert.equal(ks.subarray(0, 16).toString('hex'), 'b2396305f03dc027ccc3524a0a1118a8');
  assert.equal(ks.subarray(16, 32).toString('hex'), '6982944f18fc82d589c403a47a0d0919');
});

test('rc4 keeps its keystream across calls', () => {
  const key = Buffer.from('0102030405060708', 'hex');
  const whole = new Rc4(key).update(Buffer.alloc(40));
  const split = new Rc4(key);
  const joined = Buffer.concat([split.update(Buffer.alloc(13)), split.update(Buffer.alloc(27))]);
  assert.deepEqual(joined, whole);
  assert.equal(whole.subarray(0, 16).toString('hex'), '97ab8a1bf0afb96132f2f67258da15a8');
});
