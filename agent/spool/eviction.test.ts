import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evictionSuite, describe, drainAll, expectedRanges, take, timeline, type Result } from './eviction-suite.ts';
import { createMemorySpool } from './memory-spool.ts';
import { openDiskSpool } from './disk-spool.ts';
import { inspectDiskSpool } from './inspect-spool.ts';
import type { Spool } from './spool.ts';

evictionSuite('memory spool', async ({ capBytes, maxRanges }) =>
  createMemorySpool({ capBytes, describe, ...(maxRanges ? { maxRanges } : {}) }),
);
evictionSuite('disk spool', async ({ capBytes, maxRanges }) =>
  openDiskSpool({
    dir: mkdtempSync(join(tmpdir(), 'spool-')),
    capBytes,
    segmentBytes: Math.max(1024, capBytes / 8),
    flushMs: 1,
    describe,
    ...(maxRanges ? { maxRanges } : {}),
  }),
);

const dirOf = () => mkdtempSync(join(tmpdir(), 'spool-'));
type Appended = { seq: number; data: Result }[];

async function appendAll(spool: Spool<Result>, items: Result[], into: Appended): Promise<void> {
  for (const data of items) {
    const [seq] = await spool.append([data]);
    into.push({ seq: seq!, data });
  }
}

test('disk spool: the eviction report survives a restart (clean or killed) and later losses continue the same ranges', async () => {
  for (const kill of [false, true]) {
    const dir = dirOf();
    const opts = { dir, capBytes: 16 * 1024, segmentBytes: 2048, flushMs: 1, describe };
    const a = openDiskSpool<Result>(opts);
    const gen = timeline([1, 2, 3, 5]);
    const appended: Appended = [];
    await appendAll(a, take(gen, 150), appended);
    const before = a.evictions();
    assert.ok(before.records > 30, `evicted before the restart (${before.records})`);
    const oldest = a.stats().oldestTime;
    if (!kill) await a.close(); // else: SIGKILL, nothing closed or flushed beyond the awaited appends
    const b = openDiskSpool<Result>(opts);
    assert.deepEqual(b.evictions(), before, `the report is back (${kill ? 'killed' : 'closed'})`);
    assert.equal(b.stats().oldestTime, oldest);
    await appendAll(b, take(gen, 150), appended);
    const kept = await drainAll(b);
    assert.deepEqual(
      kept.map((r) => r.seq),
      appended.slice(appended.length - kept.length).map((r) => r.seq),
      'the newest are kept',
    );
    const evicted = new Set(appended.slice(0, appended.length - kept.length).map((r) => r.seq));
    const ev = b.evictions();
    assert.equal(ev.records, evicted.size);
    assert.deepEqual(ev.ranges, expectedRanges(appended, evicted));
    assert.equal(ev.ranges.length, 4, 'one range per monitor across the restart');
    await b.close();
    if (kill) await a.close().catch(() => {});
  }
});

test('disk spool: after a restart a lost range spans a deleted (delivered) segment only for monitors that had nothing in it', async () => {
  const dir = dirOf();
  const opts = { dir, capBytes: 12 * 1024, segmentBytes: 1024, flushMs: 1, describe };
  const a = openDiskSpool<Result>(opts);
  const at = (m: number, k: number): Result => ({
    monitor_id: m,
    time: new Date(Date.UTC(2026, 0, 1) + k * 1000).toISOString(),
    pad: 'x'.repeat(120),
  });
  const appended: Appended = [];
  let k = 0;
  await appendAll(a, [at(3, k++)], appended); // monitor 3: one record now ...
  for (let i = 0; i < 24; i++) await appendAll(a, [at(1 + (i % 2), k++)], appended);
  await appendAll(a, [at(3, k++)], appended); // ... and one after the segments below
  for (let i = 0; i < 10; i++) await appendAll(a, [at(1 + (i % 2), k++)], appended);
  const firsts = readdirSync(dir)
    .filter((n) => n.startsWith('seg-'))
    .map((n) => Number(n.slice(4, 16)))
    .sort((x, y) => x - y);
  assert.ok(firsts.length >= 4, `several segments (${firsts.length})`);
  // The second segment (monitors 1 and 2 only) is delivered in full and deleted.
  const second = appended.filter((r) => r.seq >= firsts[1]! && r.seq < firsts[2]!).map((r) => r.seq);
  assert.ok(second.length >= 2 && second.every((s) => appended.find((r) => r.seq === s)!.data.monitor_id !== 3));
  await a.next(1000);
  await a.ack(second);
  assert.ok(
    !readdirSync(dir).includes(`seg-${String(firsts[1]).padStart(12, '0')}.log`),
    'the delivered segment is gone',
  );
  await a.close();
  const b = openDiskSpool<Result>(opts);
  // Fill until both of monitor 3's records and everything around the hole are evicted.
  for (let i = 0; i < 120; i++) await appendAll(b, [at(4, k++)], appended);
  const kept = new Set((await drainAll(b)).map((r) => r.seq));
  const delivered = new Set(second);
  const evicted = new Set(appended.map((r) => r.seq).filter((s) => !kept.has(s) && !delivered.has(s)));
  assert.ok(
    appended.filter((r) => r.data.monitor_id === 3).every((r) => evicted.has(r.seq)),
    'monitor 3 lost both',
  );
  const want = expectedRanges(appended, evicted);
  assert.deepEqual(b.evictions().ranges, want);
  assert.equal(want.filter((r) => r.monitor_id === 3).length, 1, 'monitor 3: one range over the hole');
  assert.equal(want.filter((r) => r.monitor_id === 1).length, 2, 'monitor 1: split by its delivered records');
  await b.close();
});

test('disk spool: a crash between recording an eviction and deleting the segment neither resends nor recounts it', async () => {
  const dir = dirOf();
  const opts = { dir, capBytes: 8 * 1024, segmentBytes: 2048, flushMs: 1, describe };
  const a = openDiskSpool<Result>(opts);
  const gen = timeline([1, 2]);
  const appended: Appended = [];
  let saved: { name: string; bytes: Buffer } | undefined;
  while (!saved) {
    const oldest = readdirSync(dir)
      .filter((n) => n.startsWith('seg-'))
      .sort()[0];
    const bytes = oldest ? readFileSync(join(dir, oldest)) : undefined;
    const evictedBefore = a.evictions().records;
    await appendAll(a, take(gen, 1), appended);
    if (a.evictions().records > evictedBefore) saved = { name: oldest!, bytes: bytes! };
  }
  writeFileSync(join(dir, saved.name), saved.bytes); // the unlink never happened
  const report = a.evictions();
  const keptA = (await drainAll(a)).map((r) => r.seq);
  const b = openDiskSpool<Result>(opts);
  assert.deepEqual(b.evictions(), report);
  assert.deepEqual(
    (await drainAll(b)).map((r) => r.seq),
    keptA,
    'the evicted segment is not sent again',
  );
  assert.ok(!readdirSync(dir).includes(saved.name));
  await b.close();
  await a.close();
});

test('disk spool: memory stays bounded through an outage at the cap and the interleaved replay after it', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const dir = dirOf();
  const s = openDiskSpool<Result>({ dir, capBytes: 24 << 20, segmentBytes: 1 << 20, describe });
  const gen = timeline(
    Array.from({ length: 50 }, (_, i) => i + 1),
    1000,
  );
  gc();
  const before = process.memoryUsage().heapUsed;
  let worst = 0;
  const measure = () => {
    gc();
    worst = Math.max(worst, process.memoryUsage().heapUsed - before);
  };
  for (let n = 0; n < 60; n++) {
    await s.append(take(gen, 1000)); // ~60 MB through a 24 MB cap
    if (n % 10 === 9) measure();
  }
  assert.ok(s.evictions().records > 30_000, `evicted (${s.evictions().records})`);
  assert.ok(s.stats().bytes <= 24 << 20);
  s.rewind();
  let sent = 0;
  for (;;) {
    await s.append(take(gen, 20)); // live results keep coming during the replay
    const got = await s.next(500);
    if (!got.length) break;
    sent += got.length;
    await s.ack(got.map((r) => r.seq));
    if (sent % 5000 < 500) measure();
    if (s.stats().backlog === 0) break;
  }
  measure();
  assert.ok(sent > 20_000, `replayed (${sent})`);
  assert.ok(worst < 20_000_000, `heap grew by at most ${Math.round(worst / 1e6)} MB for 24 MB on disk`);
  await s.close();
});

test('disk spool: inspecting it (agent status) shows the oldest record and the evictions, changing nothing', async () => {
  const dir = dirOf();
  const live = openDiskSpool<Result>({ dir, capBytes: 8 * 1024, segmentBytes: 2048, flushMs: 1, describe });
  const gen = timeline([1, 2, 3]);
  for (let i = 0; i < 80; i++) await live.append(take(gen, 1));
  const files = () =>
    readdirSync(dir)
      .sort()
      .map((f) => [f, statSync(join(dir, f)).size]);
  const before = files();
  const got = inspectDiskSpool(dir, describe);
  assert.deepEqual(got, {
    backlog: live.stats().backlog,
    bytes: live.stats().bytes,
    next_seq: live.stats().nextSeq,
    oldest_time: new Date(live.stats().oldestTime!).toISOString(),
    evicted: live.evictions(),
  });
  assert.ok(got.evicted.records > 0 && got.evicted.ranges.length === 3);
  assert.deepEqual(files(), before, 'no file touched');
  writeFileSync(join(dir, 'evicted.json'), '{"version":1');
  assert.match(inspectDiskSpool(dir, describe).evicted_error ?? '', /evicted\.json is not valid JSON/);
  await live.close();
});

test('disk spool: options out of range are refused at open, naming the limit', () => {
  assert.throws(() => openDiskSpool({ dir: dirOf(), capBytes: 100 }), /at least 4096 bytes, got 100/);
  assert.throws(() => openDiskSpool({ dir: dirOf(), capBytes: 1 << 20, maxRanges: 5000 }), /from 1 to 1000/);
});
