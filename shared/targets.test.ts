import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkTarget, isIpv4, MAX_TARGET_ADDRESSES, parseTarget, TargetError, targetIncludes } from './targets.ts';

const count = (t: string) => {
  const r = checkTarget(t);
  return r.ok ? r.count : r.reason;
};

test('targets: CIDRs, ranges and lists are counted', () => {
  assert.equal(count('10.0.0.0/24'), 254);
  assert.equal(count('10.0.0.1-10.0.0.50'), 50);
  assert.equal(count('10.0.0.1-50'), 50);
  assert.equal(count('10.0.0.1, 10.0.0.9,10.0.1.0/30'), 4);
  assert.equal(count('10.0.0.0/16'), 65534);
});

test('a /24 yields its 254 host addresses without network and broadcast', () => {
  const t = parseTarget('192.168.1.0/24');
  const all = [...t];
  assert.equal(t.count, 254);
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
  assert.equal(t.count, 65_534);
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
  assert.equal(parseTarget('10.0.0.0-10.0.255.255').count, MAX_TARGET_ADDRESSES);
  assert.throws(() => parseTarget('10.0.0.0-10.1.0.0'), /65,537 addresses/);
});

test('a comma list mixes forms, merges overlaps and scans each address once', () => {
  const t = parseTarget(' 10.0.0.5, 10.0.0.1-6 ,10.0.0.9,10.0.0.8/31 ');
  assert.deepEqual(
    [...t],
    ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6', '10.0.0.8', '10.0.0.9'],
  );
  assert.equal(t.count, 8);
  assert.deepEqual(t.ranges, [
    [167772161, 167772166],
    [167772168, 167772169],
  ]);
  const r = checkTarget('10.0.0.1-10.0.0.10, 10.0.0.5-20');
  assert.equal(r.ok && r.count, 20);
  assert.deepEqual(checkTarget('127.0.0.10-12'), { ok: true, count: 3, ranges: [[0x7f00000a, 0x7f00000c]] });
});

test('a list whose parts together exceed a /16 is refused', () => {
  assert.throws(
    () => parseTarget('10.0.0.0/16,10.1.0.0/24'),
    (e: unknown) => e instanceof TargetError && /the target has 65,788 addresses/.test(e.message),
  );
  assert.throws(
    () => parseTarget(`10.0.0.1,${'10.0.0.2,'.repeat(3000)}`),
    /at most 20,000/,
    'the text length is bounded',
  );
});

test('malformed targets get errors that name the bad part', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    [' , ', /empty/],
    ['10.0.0', /'10\.0\.0' is not an IPv4 address/],
    ['10.0.0.256', /not an IPv4 address/],
    ['010.0.0.1', /not an IPv4 address/],
    ['01.2.3.4', /not an IPv4 address/],
    ['999.1.1.1', /not an IPv4 address/],
    ['host.example.com', /not an IPv4 address/],
    ['fe80::1/64', /IPv6 is not supported/],
    ['10.0.0.0/33', /not a valid IPv4 CIDR.*prefix length/],
    ['10.0.0.0/', /prefix length/],
    ['10.0.0.0/16/16', /not a valid IPv4 CIDR/],
    ['10.0.0.0/24/', /not a valid IPv4 CIDR/],
    ['10.0.0.9-3', /ends before it starts/],
    ['10.0.0.9-10.0.0.1', /ends before it starts/],
    ['10.0.0.1-300', /not a valid last octet/],
    ['10.0.0.1-050', /not a valid last octet/],
    ['10.0.0.0/8', /16,777,216 addresses/],
  ];
  for (const [input, re] of cases) {
    assert.throws(
      () => parseTarget(input),
      (e: unknown) => e instanceof TargetError && re.test(e.message),
      input,
    );
    const r = checkTarget(input);
    assert.ok(!r.ok && re.test(r.reason), `checkTarget ${input}`);
  }
  assert.equal(isIpv4('192.168.1.1'), true);
  assert.equal(isIpv4('192.168.1'), false);
});

test('what nobody should scan is refused, naming the address and the reason; loopback is allowed', () => {
  const cases: [string, RegExp][] = [
    ['0.0.0.0/16', /0\.0\.0\.0\/8.*this network/],
    ['224.0.0.1', /multicast/],
    ['239.255.255.250', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['250.1.2.3', /reserved/],
    ['169.254.169.254', /link-local.*metadata/],
    ['10.0.0.1, 169.254.0.0/16', /169\.254\.0\.1/],
    ['223.255.255.0-224.0.0.5', /includes 224\.0\.0\.0/],
  ];
  for (const [bad, re] of cases) assert.throws(() => parseTarget(bad), re, bad);
  assert.equal(parseTarget('127.0.0.1').count, 1);
});

test('an address is inside a target only when it is one of its addresses', () => {
  const r = checkTarget('10.0.0.0/30, 192.168.5.7');
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(targetIncludes(r.ranges, '10.0.0.1'), true);
  assert.equal(targetIncludes(r.ranges, '10.0.0.2'), true);
  assert.equal(targetIncludes(r.ranges, '10.0.0.0'), false, 'the network address');
  assert.equal(targetIncludes(r.ranges, '10.0.0.3'), false, 'the broadcast address');
  assert.equal(targetIncludes(r.ranges, '192.168.5.7'), true);
  for (const bad of ['8.8.8.8', '<img src=x onerror=alert(1)>', ' 10.0.0.1', '10.0.0.01', ''])
    assert.equal(targetIncludes(r.ranges, bad), false, bad);
});
