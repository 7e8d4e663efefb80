import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, appendFileSync, statSync, existsSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spoolSuite } from './spool-suite.ts';
import { createMemorySpool } from './memory-spool.ts';
import { openDiskSpool } from './disk-spool.ts';
import { inspectDiskSpool } from './inspect-spool.ts';

spoolSuite('memory spool', async (capBytes) => ({
  spool: createMemorySpool(capBytes === undefined ? {} : { capBytes }),
}));
spoolSuite('disk spool', async (capBytes) => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  return { spool: openDiskSpool({ dir, capBytes: capBytes ?? 1 << 30, segmentBytes: 4096 }) };
});

test('disk spool: unacknowledged records survive a reopen, acknowledged ones do not come back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const a = openDiskSpool<{ n: number }>({ dir, capBytes: 1 << 30, segmentBytes: 1024 });
  const seqs = await a.append(Array.from({ length: 200 }, (_, n) => ({ n })));
  await a.ack(seqs.slice(0, 150));
  await a.close();
  const b = openDiskSpool<{ n: number }>({ dir, capBytes: 1 << 30, segmentBytes: 1024 });
  const out = await b.next(1000);
  assert.deepEqual(
    out.map((r) => r.data.n),
    Array.from({ length: 50 }, (_, i) => 150 + i),
  );
  const more = await b.append([{ n: 999 }]);
  assert.ok(more[0]! > seqs[seqs.length - 1]!, 'sequence numbers are never reused');
  await b.ack([...out.map((r) => r.seq), ...more]);
  await b.close();
  assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('seg-')).length <= 1, true);
});

test('disk spool: a torn last record (crash mid-write) is dropped and the rest is kept', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const a = openDiskSpool<{ n: number }>({ dir, capBytes: 1 << 30 });
  await a.append([{ n: 1 }, { n: 2 }]);
  // Simulate SIGKILL: no close(), then half a record appended to the segment.
  const seg = readdirSync(dir).find((n) => n.startsWith('seg-'))!;
  const before = statSync(join(dir, seg)).size;
  appendFileSync(join(dir, seg), Buffer.from([40, 0, 0, 0, 1, 2, 3]));
  const b = openDiskSpool<{ n: number }>({ dir, capBytes: 1 << 30 });
  assert.deepEqual(
    (await b.next(10)).map((r) => r.data.n),
    [1, 2],
  );
  assert.equal(statSync(join(dir, seg)).size, before);
  const [s] = await b.append([{ n: 3 }]);
  assert.equal(s, 3);
  await b.close();
});

test('disk spool: fully acknowledged segments are deleted and the backlog bytes fall', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const s = openDiskSpool<{ n: number; pad: string }>({ dir, capBytes: 1 << 30, segmentBytes: 2048 });
  const seqs = await s.append(Array.from({ length: 100 }, (_, n) => ({ n, pad: 'y'.repeat(100) })));
  const segsBefore = readdirSync(dir).filter((n) => n.startsWith('seg-')).length;
  assert.ok(segsBefore > 3);
  const bytesBefore = s.stats().bytes;
  await s.ack(seqs.slice(0, 80));
  assert.ok(readdirSync(dir).filter((n) => n.startsWith('seg-')).length < segsBefore);
  assert.ok(s.stats().bytes < bytesBefore);
  assert.equal(s.stats().backlog, 20);
  await s.close();
});

test('disk spool: a write that fails (disk full) loses only that append; later appends keep their sequence numbers, also after a reopen', async (t) => {
  if (!existsSync('/dev/full')) return t.skip('no /dev/full on this machine');
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const a = openDiskSpool<{ n: number }>({ dir, capBytes: 1 << 20, segmentBytes: 4096 });
  // The first segment file is /dev/full: every write to it fails with ENOSPC.
  symlinkSync('/dev/full', join(dir, 'seg-000000000001.log'));
  await assert.rejects(a.append([{ n: 1 }, { n: 2 }]), /ENOSPC/, 'the append fails');
  assert.equal(a.stats().backlog, 0, 'nothing unwritten is in the backlog');
  assert.equal(a.stats().bytes, 0, 'nor counts against the cap');
  const [s3] = await a.append([{ n: 3 }]);
  const got = await a.next(10);
  assert.deepEqual(
    got.map((r) => [r.seq, r.data.n]),
    [[s3, 3]],
    'the next record is read back under its own sequence number',
  );
  await a.ack([s3!]);
  const [s4] = await a.append([{ n: 4 }]);
  await a.close();
  const b = openDiskSpool<{ n: number }>({ dir, capBytes: 1 << 20, segmentBytes: 4096 });
  assert.deepEqual(
    (await b.next(10)).map((r) => [r.seq, r.data.n]),
    [[s4, 4]],
    'after a reopen too',
  );
  await b.close();
});

test('disk spool: a cap smaller than the default segment keeps working once everything is acknowledged', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const s = openDiskSpool<{ n: number; pad: string }>({ dir, capBytes: 64 * 1024 });
  const pad = 'x'.repeat(300);
  for (let n = 0; n < 2000; n++) {
    await s.append([{ n, pad }]); // ~10x the cap over the loop
    const got = await s.next(10);
    await s.ack(got.map((r) => r.seq));
  }
  assert.equal(s.stats().backlog, 0, 'everything acknowledged');
  assert.ok(s.stats().bytes < 64 * 1024, `acknowledged bytes are given back (${s.stats().bytes})`);
  await s.close();
});

test('disk spool: acks.log holds only acknowledgements of records still on disk', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const s = openDiskSpool<{ n: number }>({ dir, capBytes: 1 << 30, segmentBytes: 4096 });
  // Steady traffic with one record never acknowledged (so the spool is never empty).
  const [stuck] = await s.append([{ n: -1 }]);
  for (let n = 0; n < 10_000; n += 100) {
    await s.append(Array.from({ length: 100 }, (_, k) => ({ n: n + k })));
    await s.ack((await s.next(101)).map((r) => r.seq).filter((q) => q !== stuck));
  }
  const size = statSync(join(dir, 'acks.log')).size;
  assert.ok(size < 4096, `acks.log is ${size} bytes after 10,000 acknowledged records`);
  await s.close();
});

test('disk spool: a rewind while records wait for their flush still sends them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const s = openDiskSpool<{ n: number }>({ dir, capBytes: 1 << 20, flushMs: 20 });
  const appended = s.append([{ n: 1 }]); // not awaited: still in the flush window
  s.rewind(); // a reconnect lands here
  await appended;
  assert.deepEqual(
    (await s.next(10)).map((r) => r.data.n),
    [1],
    'the record is not skipped',
  );
  await s.close();
});

test('disk spool: a long outage does not keep the backlog in memory', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const s = openDiskSpool<{ n: number; pad: string }>({ dir, capBytes: 1 << 30, segmentBytes: 1 << 20 });
  gc();
  const before = process.memoryUsage().heapUsed;
  const pad = 'y'.repeat(1000);
  for (let n = 0; n < 40_000; n += 1000)
    await s.append(Array.from({ length: 1000 }, (_, k) => ({ n: n + k, pad: `${pad}${n + k}` })));
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  assert.ok(s.stats().bytes > 40_000_000, 'about 40 MB spooled');
  assert.ok(grown < 15_000_000, `heap grew by ${Math.round(grown / 1e6)} MB for 40 MB on disk`);
  assert.equal((await s.next(5)).length, 5, 'and the oldest records are still read back from disk');
  await s.close();
});

test('disk spool: inspecting it (agent status) reads the backlog and changes nothing, beside a spool in use', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const live = openDiskSpool<{ n: number }>({ dir, capBytes: 1 << 20, segmentBytes: 4096 });
  const seqs = await live.append(Array.from({ length: 50 }, (_, n) => ({ n })));
  await live.ack(seqs.slice(0, 20));
  const files = () =>
    readdirSync(dir)
      .sort()
      .map((f) => [f, statSync(join(dir, f)).size]);
  const before = files();
  assert.deepEqual(
    inspectDiskSpool(dir),
    {
      backlog: 30,
      bytes: live.stats().bytes,
      next_seq: seqs[49]! + 1,
      oldest_time: null,
      evicted: { records: 0, ranges: [], ranges_omitted: 0 },
    },
    'what status prints',
  );
  assert.deepEqual(files(), before, 'no file touched');
  const more = await live.append([{ n: 50 }]);
  assert.deepEqual(
    (await live.next(100)).map((r) => r.seq),
    [...seqs.slice(20), ...more],
    'the live spool is intact',
  );
  await live.close();
});
