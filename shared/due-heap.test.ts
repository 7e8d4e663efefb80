import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDueHeap, type DueItem } from './due-heap.ts';

const item = (id: number): DueItem => ({ id, due: 0, pos: -1 });

test('due heap: pops in (due, id) order and moves or removes items in place', () => {
  const h = createDueHeap<DueItem>();
  const xs = Array.from({ length: 200 }, (_, i) => item(i));
  let seed = 7;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % 1000);
  for (const x of xs) h.set(x, rnd());
  for (const x of xs.slice(0, 50)) h.set(x, rnd());
  for (const x of xs.slice(50, 80)) h.remove(x);
  h.remove(xs[60]!);
  assert.equal(h.size, 170);
  const out: DueItem[] = [];
  for (let x = h.pop(); x; x = h.pop()) out.push(x);
  assert.equal(out.length, 170);
  for (let i = 1; i < out.length; i++) {
    const a = out[i - 1]!;
    const b = out[i]!;
    assert.ok(a.due < b.due || (a.due === b.due && a.id < b.id), `order at ${i}`);
  }
  assert.ok(out.every((x) => x.pos === -1 && (x.id < 50 || x.id >= 80)));
});
