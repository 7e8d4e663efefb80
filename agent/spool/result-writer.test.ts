import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createResultWriter } from './result-writer.ts';

test('a failing spool is counted per result but logged once a minute, not once per result', async () => {
  const clock = { now: 1_000_000 };
  const logs: object[] = [];
  let ok = 0;
  let failing = true;
  const w = createResultWriter<number>({
    spool: {
      append: async () =>
        failing ? Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { name: 'Error' })) : [1],
    },
    log: { error: (o) => void logs.push(o) },
    onSpooled: () => void ok++,
    now: () => clock.now,
  });
  for (let i = 0; i < 1000; i++) w.write(i);
  await new Promise((r) => setImmediate(r));
  assert.equal(w.dropped(), 1000);
  assert.equal(logs.length, 1);
  clock.now += 61_000;
  for (let i = 0; i < 10; i++) w.write(i);
  await new Promise((r) => setImmediate(r));
  assert.equal(logs.length, 2);
  assert.equal(
    (logs[1] as { results_lost: number }).results_lost,
    1000,
    'the 999 after the first line and the one that made this line',
  );
  failing = false;
  w.write(1);
  await new Promise((r) => setImmediate(r));
  assert.equal(ok, 1);
  assert.equal(w.dropped(), 1010);
});
