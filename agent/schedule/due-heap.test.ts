import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDueHeap } from './due-heap.ts';

test('pops entries in due order, ties broken by monitor id, after moves and removals', () => {
  const h = createDueHeap<string>();
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const want = new Map<number, number>();
  for (let id = 1; id <= 2000; id++) {
    const due = Math.floor(rand() * 500);
    h.set(id, due, `m${id}`);
    want.set(id, due);
  }
  for (let id = 1; id <= 2000; id += 3) {
    const due = Math.floor(rand() * 500);
    h.set(id, due, `m${id}`);
    want.set(id, due);
  }
  for (let id = 2; id <= 2000; id += 7) {
    assert.equal(h.remove(id)?.id, id);
    want.delete(id);
  }
  assert.equal(h.size, want.size);
  const order: [number, number][] = [];
  for (let e = h.pop(); e; e = h.pop()) order.push([e.due, e.id]);
  const expected = [...want].map(([id, due]) => [due, id] as [number, number]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  assert.deepEqual(order, expected);
  assert.equal(h.peek(), undefined);
});
