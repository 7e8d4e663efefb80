import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkTarget, isIpv4, targetIncludes } from './targets.ts';

const count = (t: string) => {
  const r = checkTarget(t);
  return r.ok ? r.count : r.reason;
};

test('targets: CIDRs, ranges and lists are counted', () => {
  assert.equal(count('10.0.0.0/24'), 254);
  assert.equal(count('10.0.0.1-10.0.0.50'), 50);
  assert.equal(count('10.0.0.1, 10.0.0.9,10.0.1.0/30'), 4);
  assert.equal(count('10.0.0.0/16'), 65534);
});

test('targets: bad input is refused with a reason', () => {
  for (const bad of ['', '10.0.0.0/8', '999.1.1.1', '10.0.0.9-10.0.0.1', '10.0.0.0/33', 'host.example', '01.2.3.4']) {
    const r = checkTarget(bad);
    assert.equal(r.ok, false, bad);
  }
  assert.equal(isIpv4('192.168.1.1'), true);
  assert.equal(isIpv4('192.168.1'), false);
});

test('targets: what the agent refuses and what nobody should scan is refused, naming the reason', () => {
  const cases: [string, RegExp][] = [
    ['10.0.0.0/16/16', /not a valid IPv4 CIDR/],
    ['10.0.0.0/24/', /not a valid IPv4 CIDR/],
    ['0.0.0.0/16', /0\.0\.0\.0\/8.*this network/],
    ['224.0.0.1', /multicast/],
    ['239.255.255.250', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['250.1.2.3', /reserved/],
    ['169.254.169.254', /link-local.*metadata/],
    ['10.0.0.1, 169.254.0.0/16', /169\.254\.0\.1/],
    ['223.255.255.0-224.0.0.5', /includes 224\.0\.0\.0/],
    ['10.0.0.0/16,10.1.0.0/24', /65,788 addresses/],
  ];
  for (const [bad, re] of cases) {
    const r = checkTarget(bad);
    assert.equal(r.ok, false, bad);
    if (!r.ok) assert.match(r.reason, re, bad);
  }
});

test('targets: loopback and the short range form are accepted; overlaps count once', () => {
  assert.equal(checkTarget('127.0.0.1').ok, true);
  assert.deepEqual(checkTarget('127.0.0.10-12'), { ok: true, count: 3, ranges: [[0x7f00000a, 0x7f00000c]] });
  const r = checkTarget('10.0.0.1-10.0.0.10, 10.0.0.5-20');
  assert.equal(r.ok && r.count, 20);
});

test('targets: an address is inside a target only when it is one of its addresses', () => {
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
