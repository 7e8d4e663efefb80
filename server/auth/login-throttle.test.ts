import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLoginThrottle } from './login-throttle.ts';

const clock = () => {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
};

test('a protected username keeps its lockout while thousands of other usernames and addresses pass through', () => {
  const c = clock();
  const th = createLoginThrottle({
    maxFailures: 3,
    windowMs: 60_000,
    lockoutBaseMs: 60_000,
    lockoutMaxMs: 3600_000,
    protect: ['admin'],
    maxUsernames: 100,
    maxAddresses: 100,
    now: c.now,
  });
  for (let i = 0; i < 3; i++) th.fail(`10.0.0.${i}`, 'admin');
  assert.ok(th.retryAfter('10.9.9.9', 'admin') > 0);
  for (let i = 0; i < 5000; i++) th.fail(`10.1.${i >> 8}.${i & 255}`, `spray-${i}`);
  assert.equal(th.retryAfter('10.9.9.9', 'admin'), 60, 'still locked, for the same time');
  assert.equal(th.retryAfter('10.9.9.9', 'spray-0'), 0, 'an evicted unprotected username is forgotten');
});

test('the lockout grows 2x per failure up to the cap, and is forgotten after a quiet day', () => {
  const c = clock();
  const th = createLoginThrottle({
    maxFailures: 2,
    windowMs: 1000,
    lockoutBaseMs: 10_000,
    lockoutMaxMs: 45_000,
    now: c.now,
  });
  th.fail('a', 'u');
  assert.equal(th.retryAfter('b', 'u'), 0);
  const waits: number[] = [];
  for (let i = 0; i < 5; i++) {
    th.fail(`x${i}`, 'u');
    const w = th.retryAfter(`y${i}`, 'u');
    waits.push(w);
    c.advance(w * 1000);
  }
  assert.deepEqual(waits, [10, 20, 40, 45, 45]);
  c.advance(24 * 3600_000 + 1);
  th.fail('z', 'u');
  assert.equal(th.retryAfter('z2', 'u'), 0, 'after a day without failures the count starts over');
});

test('the address limit is a sliding window, independent of the username', () => {
  const c = clock();
  const th = createLoginThrottle({
    maxFailures: 2,
    windowMs: 10_000,
    lockoutBaseMs: 1000,
    lockoutMaxMs: 1000,
    now: c.now,
  });
  th.fail('ip', 'a');
  c.advance(4000);
  th.fail('ip', 'b');
  assert.equal(th.retryAfter('ip', 'c'), 6);
  c.advance(6001);
  assert.equal(th.retryAfter('ip', 'c'), 0);
  th.succeed('ip', 'c');
  assert.equal(th.retryAfter('other', 'a'), 0);
});
