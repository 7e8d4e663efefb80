import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpoolFullError, type Spool } from './spool.ts';

interface Item {
  n: number;
  pad?: string;
}

/** One behaviour suite that every Spool implementation must pass. */
export function spoolSuite(
  name: string,
  make: (capBytes?: number) => Promise<{ spool: Spool<Item>; reopen?: () => Promise<Spool<Item>> }>,
): void {
  test(`${name}: sequence numbers increase and next hands each record out once`, async () => {
    const { spool } = await make();
    const seqs = await spool.append([{ n: 1 }, { n: 2 }, { n: 3 }]);
    assert.deepEqual(seqs, [seqs[0]!, seqs[0]! + 1, seqs[0]! + 2]);
    const a = await spool.next(2);
    const b = await spool.next(10);
    assert.deepEqual(
      [...a, ...b].map((r) => r.data.n),
      [1, 2, 3],
    );
    assert.deepEqual(await spool.next(10), []);
    assert.equal(spool.stats().backlog, 3);
    assert.equal(spool.stats().inFlight, 3);
    await spool.close();
  });

  test(`${name}: only acknowledged records leave; rewind resends the rest in order`, async () => {
    const { spool } = await make();
    const seqs = await spool.append(Array.from({ length: 10 }, (_, n) => ({ n })));
    await spool.next(10);
    await spool.ack([seqs[0]!, seqs[2]!, seqs[9]!]);
    spool.rewind();
    const again = await spool.next(100);
    assert.deepEqual(
      again.map((r) => r.data.n),
      [1, 3, 4, 5, 6, 7, 8],
    );
    assert.equal(spool.stats().backlog, 7);
    await spool.ack(again.map((r) => r.seq));
    assert.equal(spool.stats().backlog, 0);
    spool.rewind();
    assert.deepEqual(await spool.next(100), []);
    await spool.close();
  });

  test(`${name}: acks for unknown or repeated sequence numbers are ignored`, async () => {
    const { spool } = await make();
    const [s] = await spool.append([{ n: 1 }]);
    await spool.ack([s!, s!, 999999]);
    assert.equal(spool.stats().backlog, 0);
    await spool.close();
  });

  test(`${name}: an append larger than the whole cap is refused and evicts nothing`, async () => {
    const { spool } = await make(5000);
    await spool.append([{ n: 1, pad: 'x'.repeat(500) }]);
    await assert.rejects(
      spool.append([{ n: 2, pad: 'x'.repeat(6000) }]),
      (err: Error) =>
        err instanceof SpoolFullError && /cannot fit in the result spool, whose cap is 5000 bytes/.test(err.message),
    );
    assert.equal(spool.evictions().records, 0);
    const out = await spool.next(10);
    assert.deepEqual(
      out.map((r) => r.data.n),
      [1],
    );
    await spool.close();
  });

  test(`${name}: many appends at once keep their order`, async () => {
    const { spool } = await make();
    const all = await Promise.all(Array.from({ length: 50 }, (_, i) => spool.append([{ n: i * 2 }, { n: i * 2 + 1 }])));
    const flat = all.flat();
    assert.equal(new Set(flat).size, 100);
    const out = await spool.next(1000);
    assert.deepEqual(
      out.map((r) => r.seq),
      [...flat].sort((x, y) => x - y),
    );
    for (const r of out) assert.equal(flat.indexOf(r.seq), r.data.n);
    await spool.close();
  });
}
