import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EvictedRange, Spool } from './spool.ts';

/** A spooled result as the agent's are, with padding to fill a small cap quickly. */
export interface Result {
  monitor_id: number;
  time: string;
  pad: string;
}

export const describe = (r: Result) => ({ monitor_id: r.monitor_id, time: Date.parse(r.time) });

const T0 = Date.UTC(2026, 11, 4, 12, 0, 0);

/** Results in the order a site produces them: monitor m polls every m*10 s at its own phase. */
export function* timeline(monitors: number[], padBytes = 150): Generator<Result> {
  for (let t = T0; ; t += 1000) {
    for (const m of monitors) {
      const interval = m * 10_000;
      if ((t - T0) % interval === ((m * 1337) % interval) - ((m * 1337) % 1000))
        yield { monitor_id: m, time: new Date(t).toISOString(), pad: 'p'.repeat(padBytes + (m % 7) * 10) };
    }
  }
}

export function take<T>(gen: Generator<T>, n: number): T[] {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(gen.next().value as T);
  return out;
}

/**
 * What the spool must report, computed from what happened to each record: per monitor, every
 * maximal run of evicted records with nothing of that monitor in between that was kept or delivered.
 */
export function expectedRanges(appended: { seq: number; data: Result }[], evicted: Set<number>): EvictedRange[] {
  const out: EvictedRange[] = [];
  const open = new Map<number, EvictedRange | null>();
  for (const { seq, data } of appended) {
    const m = data.monitor_id;
    if (!evicted.has(seq)) {
      open.set(m, null);
      continue;
    }
    const run = open.get(m);
    if (run) {
      run.to = data.time;
      run.count++;
    } else {
      const r = { monitor_id: m, from: data.time, to: data.time, count: 1 };
      out.push(r);
      open.set(m, r);
    }
  }
  return out.sort((a, b) => a.monitor_id - b.monitor_id || Date.parse(a.from) - Date.parse(b.from));
}

/** Everything unacknowledged, after a rewind, in the order handed out. */
export async function drainAll<T>(spool: Spool<T>): Promise<{ seq: number; data: T }[]> {
  spool.rewind();
  const out: { seq: number; data: T }[] = [];
  for (;;) {
    const got = await spool.next(97);
    if (!got.length) return out;
    out.push(...got);
  }
}

/** A tiny deterministic generator (tests must not depend on luck). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

type Make = (o: { capBytes: number; maxRanges?: number }) => Promise<Spool<Result>>;

/** Eviction and replay behaviour every Spool implementation must have. */
export function evictionSuite(name: string, make: Make): void {
  test(`${name}: during an outage the oldest records are evicted first, the newest are all kept, and the lost ranges per monitor are exact`, async () => {
    const cap = 24 * 1024;
    const spool = await make({ capBytes: cap });
    const gen = timeline([1, 2, 3, 5, 8]);
    const appended: { seq: number; data: Result }[] = [];
    for (let round = 0; round < 120; round++) {
      const batch = take(gen, 1 + (round % 4));
      const seqs = await spool.append(batch);
      batch.forEach((data, i) => appended.push({ seq: seqs[i]!, data }));
      assert.ok(spool.stats().bytes <= cap, `the cap holds (${spool.stats().bytes})`);
    }
    const kept = await drainAll(spool);
    const keptSeqs = kept.map((r) => r.seq);
    assert.ok(
      kept.length > 0 && kept.length < appended.length,
      `some evicted, some kept (${kept.length} of ${appended.length})`,
    );
    assert.deepEqual(
      keptSeqs,
      appended.slice(appended.length - kept.length).map((r) => r.seq),
      'what is kept is exactly the newest records, in order',
    );
    assert.ok(spool.stats().bytes > cap / 2, `most of the cap is still used (${spool.stats().bytes} of ${cap})`);
    const evicted = new Set(appended.slice(0, appended.length - kept.length).map((r) => r.seq));
    const ev = spool.evictions();
    assert.equal(ev.records, evicted.size, 'every evicted record counted');
    assert.deepEqual(ev.ranges, expectedRanges(appended, evicted));
    assert.equal(ev.ranges.length, 5, 'one range per monitor: nothing was delivered in between');
    assert.equal(ev.ranges_omitted, 0);
    assert.equal(spool.stats().oldestTime, Math.min(...kept.map((r) => Date.parse(r.data.time))));
    assert.equal(spool.stats().backlog, kept.length);
    await spool.close();
  });

  test(`${name}: a lost range never spans a record of its monitor that was delivered (a flapping link, evictions between acks)`, async () => {
    const cap = 16 * 1024;
    const spool = await make({ capBytes: cap });
    const gen = timeline([1, 2, 3, 4], 60);
    const rnd = lcg(11);
    const appended: { seq: number; data: Result }[] = [];
    const acked = new Set<number>();
    for (let round = 0; round < 400; round++) {
      const batch = take(gen, 3);
      const seqs = await spool.append(batch);
      batch.forEach((data, i) => appended.push({ seq: seqs[i]!, data }));
      if (rnd() < 0.3) {
        const sent = await spool.next(1 + Math.floor(rnd() * 12));
        const ok = sent.filter(() => rnd() < 0.5).map((r) => r.seq);
        await spool.ack(ok);
        for (const s of ok) acked.add(s);
      }
      if (rnd() < 0.05) spool.rewind();
    }
    const kept = new Set((await drainAll(spool)).map((r) => r.seq));
    const evicted = new Set(appended.map((r) => r.seq).filter((s) => !kept.has(s) && !acked.has(s)));
    assert.ok(evicted.size > 100 && acked.size > 20, `a real mix (${evicted.size} evicted, ${acked.size} delivered)`);
    const ev = spool.evictions();
    assert.equal(ev.records, evicted.size);
    const want = expectedRanges(appended, evicted);
    assert.ok(want.length > 8, `several ranges per monitor (${want.length})`);
    assert.deepEqual(ev.ranges, want);
    await spool.close();
  });

  test(`${name}: acknowledging records that were handed out and then evicted is harmless`, async () => {
    const spool = await make({ capBytes: 8 * 1024 });
    const gen = timeline([1, 2]);
    const first = await spool.append(take(gen, 10));
    const sent = await spool.next(10);
    assert.deepEqual(
      sent.map((r) => r.seq),
      first,
    );
    for (let i = 0; i < 30; i++) await spool.append(take(gen, 3));
    const before = { ...spool.stats(), evictions: spool.evictions() };
    assert.ok(before.evictions.records >= 10, 'the handed-out records were evicted');
    assert.equal(before.inFlight, 0, 'evicted records are no longer in flight');
    await spool.ack([...first, ...first]);
    assert.deepEqual({ ...spool.stats(), evictions: spool.evictions() }, before, 'nothing changed');
    const rest = await drainAll(spool);
    await spool.ack(rest.map((r) => r.seq));
    assert.equal(spool.stats().backlog, 0);
    assert.equal(spool.stats().oldestTime, null);
    await spool.close();
  });

  test(`${name}: after a rewind next alternates between the backlog (oldest first) and records appended since, each once`, async () => {
    const spool = await make({ capBytes: 1 << 22 });
    const gen = timeline([1, 2, 3]);
    const backlog = await spool.append(take(gen, 300));
    await spool.next(50); // sent before the link went down, never acknowledged
    spool.rewind();
    const live: number[] = [];
    const seen: number[] = [];
    let worstWait = 0;
    while (seen.length < 300 + live.length || live.length < 60) {
      if (live.length < 60) live.push(...(await spool.append(take(gen, 2))));
      const got = (await spool.next(4)).map((r) => r.seq);
      seen.push(...got);
      for (const s of live) if (!seen.includes(s)) worstWait = Math.max(worstWait, live.length - live.indexOf(s));
    }
    assert.deepEqual(await spool.next(10), [], 'nothing more');
    assert.equal(new Set(seen).size, seen.length, 'each record handed out once');
    assert.deepEqual(
      seen.filter((s) => s <= backlog[299]!),
      backlog,
      'the backlog, oldest first',
    );
    assert.deepEqual(
      seen.filter((s) => s > backlog[299]!),
      live,
      'live records in order',
    );
    assert.ok(
      seen.indexOf(live[59]!) < seen.indexOf(backlog[299]!),
      'fresh results did not wait for the whole backlog',
    );
    assert.ok(worstWait <= 4, `a live record waits at most a couple of batches (${worstWait})`);
    // Batches of one alternate too.
    spool.rewind();
    const extra = await spool.append(take(gen, 2));
    const ones = [];
    for (let i = 0; i < 4; i++) ones.push(...(await spool.next(1)).map((r) => r.seq));
    assert.deepEqual(ones, [backlog[0], extra[0], backlog[1], extra[1]]);
    await spool.close();
  });

  test(`${name}: ranges past the limit are counted as omitted (the oldest first) and a long loss stays one range`, async () => {
    const spool = await make({ capBytes: 4 * 1024, maxRanges: 3 });
    const gen = timeline([1, 2, 3, 4, 5, 6], 100);
    const appended: { seq: number; data: Result }[] = [];
    const acked = new Set<number>();
    for (let i = 0; i < 150; i++) {
      const batch = take(gen, 2);
      const seqs = await spool.append(batch);
      batch.forEach((data, k) => appended.push({ seq: seqs[k]!, data }));
      // Monitor 6's results get through now and then: its losses are several ranges.
      if (i % 25 === 24) {
        const six = (await drainAll(spool)).filter((r) => r.data.monitor_id === 6).map((r) => r.seq);
        await spool.ack(six);
        for (const s of six) acked.add(s);
      }
    }
    const kept = new Set((await drainAll(spool)).map((r) => r.seq));
    const evicted = new Set(appended.map((r) => r.seq).filter((s) => !kept.has(s) && !acked.has(s)));
    const all = expectedRanges(appended, evicted);
    const ev = spool.evictions();
    assert.equal(ev.records, evicted.size);
    assert.ok(all.length > 8, `more ranges than the limit (${all.length})`);
    assert.equal(ev.ranges.length, 3);
    assert.equal(ev.ranges_omitted, all.length - 3, 'each range not listed is counted once');
    // Listed: the three that began last, each exact (counted through to its last eviction).
    const first = (r: { monitor_id: number; from: string }) =>
      appended.find((a) => a.data.monitor_id === r.monitor_id && a.data.time === r.from)!.seq;
    const newest = [...all].sort((a, b) => first(b) - first(a)).slice(0, 3);
    assert.deepEqual(
      ev.ranges,
      [...newest].sort((a, b) => a.monitor_id - b.monitor_id || Date.parse(a.from) - Date.parse(b.from)),
    );
    await spool.close();
  });

  test(`${name}: a record that names no monitor or time is refused with a clear error`, async () => {
    const spool = await make({ capBytes: 1 << 20 });
    await assert.rejects(
      spool.append([{ monitor_id: 0, time: new Date().toISOString(), pad: '' }]),
      /positive 32-bit integer/,
    );
    await assert.rejects(spool.append([{ monitor_id: 1, time: 'yesterday', pad: '' }]), /must carry a time/);
    assert.equal(spool.stats().backlog, 0);
    await spool.close();
  });
}
