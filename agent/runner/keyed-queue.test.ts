import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createKeyedQueue } from './keyed-queue.ts';

test('serves keys round-robin and never more than the per-key cap at once', () => {
  const q = createKeyedQueue<string>(2);
  for (const x of ['a1', 'a2', 'a3', 'a4']) q.push('a', x);
  q.push('b', 'b1');
  q.push('c', 'c1');
  const order: string[] = [];
  for (let n = q.next(); n; n = q.next()) order.push(n.item);
  assert.deepEqual(order, ['a1', 'b1', 'c1', 'a2']);
  assert.equal(q.waiting, 2);
  q.done('a');
  assert.equal(q.next()?.item, 'a3');
  assert.equal(q.next(), undefined);
  q.done('a');
  q.done('a');
  assert.equal(q.next()?.item, 'a4');
  assert.equal(q.waiting, 0);
});

test('drain empties every key and a later push is served again', () => {
  const q = createKeyedQueue<number>(1);
  q.push('x', 1);
  q.push('y', 2);
  q.push('y', 3);
  assert.deepEqual(q.drain().sort(), [1, 2, 3]);
  assert.equal(q.next(), undefined);
  q.push('z', 4);
  assert.deepEqual(q.next(), { key: 'z', item: 4 });
});
