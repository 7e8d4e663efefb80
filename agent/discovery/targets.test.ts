import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTarget, TargetError, MAX_TARGET_ADDRESSES } from './targets.ts';

test('a /24 yields its 254 host addresses without network and broadcast', () => {
  const t = parseTarget('192.168.1.0/24');
  const all = [...t];
  assert.equal(t.total, 254);
  assert.equal(all.length, 254);
  assert.equal(all[0], '192.168.1.1');
  assert.equal(all[253], '192.168.1.254');
});

test('a CIDR written from a host address is aligned to its network', () => {
  assert.deepEqual([...parseTarget('10.1.2.77/30')], ['10.1.2.77', '10.1.2.78']);
  assert.deepEqual([...parseTarget('10.1.2.77/31')], ['10.1.2.76', '10.1.2.77']);
  assert.deepEqual([...parseTarget('10.1.2.77/32')], ['10.1.2.77']);
});

test('a /16 is accepted and counts 65,534 hosts; a /15 is refused with the limit in the message', () => {
  const t = parseTarget('10.20.0.0/16');
  assert.equal(t.total, 65_534);
  let n = 0;
  let last = '';
  for (const ip of t) {
    n++;
    last = ip;
  }
  assert.equal(n, 65_534);
  assert.equal(last, '10.20.255.254');
  assert.throws(
    () => parseTarget('10.20.0.0/15'),
    (e: unknown) => e instanceof TargetError && /131,072 addresses.*65,536/.test(e.message),
  );
});

test('ranges accept a full end address or only the last octet', () => {
  assert.deepEqual(
    [...parseTarget('10.0.0.250-10.0.1.2')],
    [
      '10.0.0.250',
      '10.0.0.251',
      '10.0.0.252',
      '10.0.0.253',
      '10.0.0.254',
      '10.0.0.255',
      '10.0.1.0',
      '10.0.1.1',
      '10.0.1.2',
    ],
  );
  assert.deepEqual([...parseTarget('10.0.0.1-3')], ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  assert.equal(parseTarget('10.0.0.0-10.0.255.255').total, MAX_TARGET_ADDRESSES);
  assert.throws(() => parseTarget('10.0.0.0-10.1.0.0'), /65,537 addresses/);
});

test('a comma list mixes forms, merges overlaps and scans each address once', () => {
  const t = parseTarget(' 10.0.0.5, 10.0.0.1-6 ,10.0.0.9,10.0.0.8/31 ');
  assert.deepEqual(
    [...t],
    ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6', '10.0.0.8', '10.0.0.9'],
  );
  assert.equal(t.total, 8);
  assert.deepEqual(t.ranges, [
    [167772161, 167772166],
    [167772168, 167772169],
  ]);
});

test('a list whose parts together exceed a /16 is refused', () => {
  assert.throws(
    () => parseTarget('10.0.0.0/16,10.1.0.0/24'),
    (e: unknown) => e instanceof TargetError && /the target has 65,788/.test(e.message),
  );
});

test('malformed targets get errors that name the bad part', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    [' , ', /empty/],
    ['10.0.0', /'10\.0\.0' is not an IPv4 address/],
    ['10.0.0.256', /not an IPv4 address/],
    ['010.0.0.1', /not an IPv4 address/],
    ['host.example.com', /not an IPv4 address/],
    ['fe80::1/64', /IPv6 is not supported/],
    ['10.0.0.0/33', /prefix length/],
    ['10.0.0.0/', /prefix length/],
    ['10.0.0.9-3', /ends before it starts/],
    ['10.0.0.1-300', /not a valid last octet/],
    ['10.0.0.0/8', /16,777,216 addresses/],
  ];
  for (const [input, re] of cases) {
    assert.throws(
      () => parseTarget(input),
      (e: unknown) => e instanceof TargetError && re.test(e.message),
      input,
    );
  }
});
