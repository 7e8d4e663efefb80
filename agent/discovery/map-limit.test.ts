import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLimiter, mapLimit } from './map-limit.ts';

test('mapLimit and a shared limiter never exceed their caps and finish every item', async () => {
  const limit = createLimiter(3);
  let active = 0;
  let peak = 0;
  const seen: number[] = [];
  const work = (i: number) =>
    limit(async () => {
      active++;
      peak = Math.max(peak, active);
      await sleep(2);
      active--;
      seen.push(i);
    });
  // Two pullers each feeding the same limiter, as discovery's parallel sweeps do.
  await mapLimit([0, 1], 2, async (k) => {
    await Promise.all(Array.from({ length: 10 }, (_, j) => work(k * 10 + j)));
  });
  assert.equal(peak, 3);
  assert.deepEqual(
    seen.sort((a, b) => a - b),
    Array.from({ length: 20 }, (_, i) => i),
  );
});

test('mapLimit stops taking items once aborted', async () => {
  const ac = new AbortController();
  const taken: number[] = [];
  await mapLimit(
    [1, 2, 3, 4, 5, 6],
    2,
    async (n) => {
      taken.push(n);
      if (n === 2) ac.abort();
      await sleep(1);
    },
    ac.signal,
  );
  assert.deepEqual(taken, [1, 2]);
});
