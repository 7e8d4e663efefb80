import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDueHeap } from './heap.ts';

function drain(h: ReturnType<typeof createDueHeap<string>>): [number, number][] {
  const out: [number, number][] = [];
  for (let e = h.pop(); e; e = h.pop()) out.push([e.due, e.id]);
  return out;
}

test('pops entries in (due, id) order', () => {
  const h = createDueHeap<string>();
  h.set(3, 100, 'c');
  h.set(1, 100, 'a');
  h.set(2, 50, 'b');
  h.set(9, 10, 'z');
  assert.deepEqual(drain(h), [
    [10, 9],
    [50, 2],
    [100, 1],
    [100, 3],
  ]);
  assert.equal(h.size, 0);
});

test('set on an existing id moves it earlier or later and replaces the value', () => {
  const h = createDueHeap<string>();
  for (let id = 1; id <= 10; id++) h.set(id, id * 10, `v${id}`);
  h.set(7, 5, 'moved-early');
  h.set(1, 1000, 'moved-late');
  assert.equal(h.size, 10);
  assert.equal(h.peek()?.id, 7);
  assert.equal(h.peek()?.value, 'moved-early');
  const order = drain(h).map(([, id]) => id);
  assert.deepEqual(order, [7, 2, 3, 4, 5, 6, 8, 9, 10, 1]);
});

test('remove by id takes out exactly that entry and keeps the heap ordered', () => {
  const h = createDueHeap<string>();
  for (let id = 1; id <= 20; id++) h.set(id, (id * 37) % 23, '');
  assert.equal(h.remove(5)?.id, 5);
  assert.equal(h.remove(5), undefined);
  assert.equal(h.has(5), false);
  const out = drain(h);
  assert.equal(out.length, 19);
  for (let i = 1; i < out.length; i++) {
    const [pd, pid] = out[i - 1]!;
    const [d, id] = out[i]!;
    assert.ok(pd < d || (pd === d && pid < id), `out of order at ${i}`);
  }
  assert.ok(!out.some(([, id]) => id === 5));
});

test('popDue returns only entries due by now, honouring the limit', () => {
  const h = createDueHeap<null>();
  h.set(1, 10, null);
  h.set(2, 20, null);
  h.set(3, 30, null);
  h.set(4, 40, null);
  assert.deepEqual(
    h.popDue(25).map((e) => e.id),
    [1, 2],
  );
  h.set(5, 0, null);
  assert.deepEqual(
    h.popDue(100, 2).map((e) => e.id),
    [5, 3],
  );
  assert.equal(h.size, 1);
});

test('stays consistent against a sorted-array model under random operations', () => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const h = createDueHeap<number>();
  const model = new Map<number, number>();
  for (let step = 0; step < 5000; step++) {
    const op = rand(10);
    const id = rand(300);
    if (op < 5) {
      const due = rand(1000);
      h.set(id, due, due);
      model.set(id, due);
    } else if (op < 8) {
      assert.equal(h.remove(id)?.id, model.has(id) ? id : undefined);
      model.delete(id);
    } else {
      const e = h.pop();
      const expected = [...model.entries()].sort((a, b) => a[1] - b[1] || a[0] - b[0])[0];
      assert.deepEqual(e ? [e.id, e.due] : undefined, expected);
      if (expected) model.delete(expected[0]);
    }
    assert.equal(h.size, model.size);
  }
});
