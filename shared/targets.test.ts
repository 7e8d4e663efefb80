import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkTarget, isIpv4 } from './targets.ts';

test('targets: CIDRs, ranges and lists are counted', () => {
  assert.deepEqual(checkTarget('10.0.0.0/24'), { ok: true, count: 254 });
  assert.deepEqual(checkTarget('10.0.0.1-10.0.0.50'), { ok: true, count: 50 });
  assert.deepEqual(checkTarget('10.0.0.1, 10.0.0.9,10.0.1.0/30'), { ok: true, count: 4 });
  assert.deepEqual(checkTarget('10.0.0.0/16'), { ok: true, count: 65534 });
});

test('targets: bad input is refused with a reason', () => {
  for (const bad of ['', '10.0.0.0/8', '999.1.1.1', '10.0.0.9-10.0.0.1', '10.0.0.0/33', 'host.example', '01.2.3.4']) {
    const r = checkTarget(bad);
    assert.equal(r.ok, false, bad);
  }
  assert.equal(isIpv4('192.168.1.1'), true);
  assert.equal(isIpv4('192.168.1'), false);
});
