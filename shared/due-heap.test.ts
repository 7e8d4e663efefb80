import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDueHeap, type DueItem } from './due-heap.ts';

const item = (id: number): DueItem => ({ id, due: 0, pos: -1 });

test('due heap: pops in (due, id) order and moves or removes items in place', () => {
  const h = createDueHeap<DueItem>();
  const xs = Array.from({ length: 200 }, (_, i) => item(i));
  let seed = 7;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % 1000;
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

test('due heap: many moves and removals keep the pop order of a sorted model', () => {
  const h = createDueHeap<DueItem>();
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const items = new Map<number, DueItem>();
  const want = new Map<number, number>();
  for (let id = 1; id <= 2000; id++) {
    const x = item(id);
    items.set(id, x);
    const due = Math.floor(rand() * 500);
    h.set(x, due);
    want.set(id, due);
  }
  for (let id = 1; id <= 2000; id += 3) {
    const due = Math.floor(rand() * 500);
    h.set(items.get(id)!, due);
    want.set(id, due);
  }
  for (let id = 2; id <= 2000; id += 7) {
    h.remove(items.get(id)!);
    want.delete(id);
  }
  assert.equal(h.size, want.size);
  const order: [number, number][] = [];
  for (let e = h.pop(); e; e = h.pop()) order.push([e.due, e.id]);
  const expected = [...want]
    .map(([id, due]) => [due, id] as [number, number])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  assert.deepEqual(order, expected);
  assert.equal(h.peek(), undefined);
});
