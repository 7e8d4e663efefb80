import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readNtlmTarget } from './target-info.ts';

/** A CHALLENGE (MS-NLMP 2.2.1.2) with the given AV pairs and optional VERSION. */
function challenge(pairs: [number, string | Buffer][], version?: number[]): Buffer {
  const info = Buffer.concat([
    ...pairs.map(([id, v]) => {
      const value = typeof v === 'string' ? Buffer.from(v, 'utf16le') : v;
      const head = Buffer.alloc(4);
      head.writeUInt16LE(id, 0);
      head.writeUInt16LE(value.length, 2);
      return Buffer.concat([head, value]);
    }),
    Buffer.alloc(4),
  ]);
  const head = Buffer.alloc(56);
  head.write('NTLMSSP\0', 0, 'latin1');
  head.writeUInt32LE(2, 8);
  head.writeUInt32LE(56, 16);
  head.writeUInt32LE((0x00000001 | 0x00800000 | 0x00080000 | (version ? 0x02000000 : 0)) >>> 0, 20);
  head.writeUInt16LE(info.length, 40);
  head.writeUInt16LE(info.length, 42);
  head.writeUInt32LE(56, 44);
  if (version) Buffer.from(version).copy(head, 48);
  return Buffer.concat([head, info]);
}

test('the CHALLENGE names the computer and domain, and its VERSION the OS build', () => {
  const t = readNtlmTarget(
    challenge(
      [
        [2, 'CORP'],
        [1, 'WEB01'],
        [4, 'corp.example.com'],
        [3, 'web01.corp.example.com'],
        [5, 'example.com'],
      ],
      [10, 0, 0x63, 0x45, 0, 0, 0, 15],
    ),
  );
  assert.deepEqual(t, {
    netbiosComputer: 'WEB01',
    netbiosDomain: 'CORP',
    dnsComputer: 'web01.corp.example.com',
    dnsDomain: 'corp.example.com',
    dnsTree: 'example.com',
    osVersion: '10.0.17763',
  });
});

test('names that are not host names (spaces, markup, controls, too long) are dropped, and no VERSION means no OS version', () => {
  const t = readNtlmTarget(
    challenge([
      [1, '<img src=x>'],
      [3, 'a\u0000b'],
      [2, 'x'.repeat(256)],
      [4, 'ok-domain'],
    ]),
  );
  assert.deepEqual(t, {
    netbiosComputer: undefined,
    netbiosDomain: undefined,
    dnsComputer: undefined,
    dnsDomain: 'ok-domain',
    dnsTree: undefined,
    osVersion: undefined,
  });
});

test('a malformed CHALLENGE throws instead of yielding names', () => {
  assert.throws(() => readNtlmTarget(Buffer.from('NTLMSSP\0garbage', 'latin1')));
  const truncated = challenge([[1, 'WEB01']]);
  assert.throws(() => readNtlmTarget(truncated.subarray(0, truncated.length - 6)));
});
