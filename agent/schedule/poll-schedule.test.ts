import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Assignment } from '../../shared/protocol/index.ts';
import { isSlot, phaseOf } from '../../shared/schedule.ts';
import { createPollSchedule, type DuePoll } from './poll-schedule.ts';

const T0 = Date.UTC(2026, 11, 4, 12, 0, 0);

function assignment(id: number, interval_s = 60, extra: Partial<Assignment> = {}): Assignment {
  return {
    monitor_id: id,
    target: { ip: `10.0.${id >> 8}.${id & 255}`, port: 5985, use_ssl: false },
    plugin: { type: 'windows-wmi' },
    interval_s,
    timeout_ms: 10_000,
    credential: null,
    ...extra,
  };
}

/** A schedule on a hand-driven clock: advance() moves time and runs the due slots. */
function manual(start = T0) {
  let now = start;
  const fired: DuePoll[] = [];
  const s = createPollSchedule({
    now: () => now,
    onDue: (p) => void fired.push(p),
    timers: { set: () => 1, clear() {} },
  });
  s.start();
  return {
    s,
    fired,
    at: () => now,
    advance(ms: number, stepMs = 1000) {
      const end = now + ms;
      while (now < end) {
        now = Math.min(end, now + stepMs);
        s.tick();
      }
    },
  };
}

test('monitors added together are spread over the interval by the phase of their id', () => {
  const m = manual();
  m.s.replaceAll(Array.from({ length: 600 }, (_, i) => assignment(i + 1)));
  m.advance(60_000);
  assert.equal(m.fired.length, 600, 'each monitor fired once in its first interval');
  const perTenSeconds = new Array(6).fill(0);
  for (const p of m.fired) perTenSeconds[Math.floor((p.slot - T0) / 10_000)]++;
  for (const n of perTenSeconds) assert.ok(n > 60 && n < 140, `a sixth of the interval holds ${n} of 600 first polls`);
});

test('every slot fired is aligned to the monitor phase and consecutive slots are one interval apart', () => {
  const m = manual(T0 + 123);
  m.s.replaceAll([assignment(7, 10), assignment(8, 30)]);
  m.advance(120_000, 250);
  for (const p of m.fired)
    assert.ok(
      isSlot(p.assignment.monitor_id, p.assignment.interval_s * 1000, p.slot),
      `slot ${p.slot} of ${p.assignment.monitor_id}`,
    );
  const seven = m.fired.filter((p) => p.assignment.monitor_id === 7).map((p) => p.slot);
  assert.equal(seven.length, 12);
  for (let i = 1; i < seven.length; i++) assert.equal(seven[i]! - seven[i - 1]!, 10_000);
  assert.equal(seven[0]! % 10_000, phaseOf(7, 10_000));
});

test('a restarted schedule stamps the same slots and does not backfill the slots missed while stopped', () => {
  const a = manual();
  a.s.replaceAll([assignment(42, 20)]);
  a.advance(60_000);
  const before = a.fired.map((p) => p.slot);
  // "Restart" 45 s later: a new schedule, same assignment.
  const b = manual(a.at() + 45_000);
  b.s.replaceAll([assignment(42, 20)]);
  b.advance(60_000);
  const after = b.fired.map((p) => p.slot);
  assert.ok(after[0]! >= a.at() + 45_000, 'no slot from before the restart is fired');
  assert.equal((after[0]! - before[0]!) % 20_000, 0, 'the same slot grid');
  assert.equal(after.length, 3);
});

test('an unchanged upsert keeps its due time, an interval change re-phases, and remove drops the monitor', () => {
  const m = manual();
  m.s.replaceAll([assignment(1, 60), assignment(2, 60)]);
  const next1 = m.s.stats().next_due;
  m.s.upsert(assignment(1, 60, { target: { ip: '10.9.9.9', port: 5986, use_ssl: true } }));
  assert.equal(m.s.stats().next_due, next1);
  m.s.upsert(assignment(2, 10));
  m.s.remove(1);
  assert.equal(m.s.has(1), false);
  m.advance(60_000);
  assert.ok(m.fired.every((p) => p.assignment.monitor_id === 2));
  assert.ok(m.fired.length >= 6, 'the new 10 s interval applies');
  for (const p of m.fired) assert.ok(isSlot(2, 10_000, p.slot));
});

test('an upsert with changed target fires with the new target at the kept slot', () => {
  const m = manual();
  m.s.replaceAll([assignment(5, 60)]);
  m.s.upsert(assignment(5, 60, { target: { ip: '10.1.1.1', port: 5986, use_ssl: true } }));
  m.advance(60_000);
  assert.equal(m.fired.length, 1);
  assert.deepEqual(m.fired[0]!.assignment.target, { ip: '10.1.1.1', port: 5986, use_ssl: true });
});

test('a schedule more than an interval behind (suspend, clock jump) fires only the latest slot and counts the missed ones', () => {
  const m = manual();
  m.s.replaceAll([assignment(3, 10)]);
  m.advance(10_000);
  assert.equal(m.fired.length, 1);
  m.advance(55_000, 55_000);
  assert.equal(m.fired.length, 2, 'one poll after the jump');
  assert.ok(m.at() - m.fired[1]!.slot < 10_000);
  const skipped = (m.fired[1]!.slot - m.fired[0]!.slot) / 10_000 - 1;
  assert.ok(skipped >= 4, `${skipped} slots passed over`);
  assert.equal(m.s.stats().missed, skipped);
});

test('with real timers, 2,000 monitors at 1 s fire within a few tens of ms of their slots from one timer', async () => {
  const late: number[] = [];
  const s = createPollSchedule({ now: () => Date.now(), onDue: (p) => void late.push(Date.now() - p.slot) });
  s.replaceAll(Array.from({ length: 2000 }, (_, i) => assignment(i + 1, 1)));
  s.start();
  await new Promise((r) => setTimeout(r, 3100));
  s.stop();
  assert.ok(late.length >= 5500 && late.length <= 8000, `${late.length} polls in 3.1 s`);
  late.sort((a, b) => a - b);
  const p999 = late[Math.floor(late.length * 0.999)]!;
  assert.ok(late[0]! >= 0, 'never early');
  assert.ok(p999 < 200, `99.9th percentile lateness ${p999} ms`);
});

test('server time stepping back (offset re-measured) never repeats a slot, through an interval change or a re-add', () => {
  const last11 = T0 + phaseOf(11, 60_000);
  let now = last11 + 200;
  const seen: DuePoll[] = [];
  const t = createPollSchedule({
    now: () => now,
    onDue: (p) => void seen.push(p),
    timers: { set: () => 1, clear() {} },
  });
  t.start();
  t.replaceAll([assignment(11, 60)]);
  now = last11 + 60_000;
  t.tick();
  const fired11 = seen.map((p) => p.slot);
  assert.deepEqual(fired11, [last11 + 60_000]);
  now -= 5_000; // the offset is measured again: server time is 5 s earlier than believed
  // 60 s slots are all on the 30 s grid of the same monitor: without a floor the re-phase lands on the slot just fired.
  t.upsert(assignment(11, 30));
  t.remove(11);
  t.upsert(assignment(11, 30));
  for (let i = 0; i < 130; i++) {
    now += 1000;
    t.tick();
  }
  const slots = seen.map((p) => p.slot);
  assert.equal(new Set(slots).size, slots.length, `no slot twice: ${slots.map((x) => x - last11).join(', ')}`);
  assert.ok(
    slots.slice(1).every((x) => x > fired11[0]!),
    'nothing at or before the slot already fired',
  );
  assert.ok(slots.length >= 4, 'the new 30 s interval applies');
  assert.equal(t.lastSlot(), slots.at(-1));
});

test('a schedule started with the floor of a previous run fires nothing at or before it, even if the clock is behind', () => {
  let now = T0 + 50_000;
  const seen: DuePoll[] = [];
  const floor = T0 + 58_000;
  const s = createPollSchedule({
    now: () => now,
    onDue: (p) => void seen.push(p),
    floor,
    timers: { set: () => 1, clear() {} },
  });
  s.start();
  s.replaceAll(Array.from({ length: 200 }, (_, i) => assignment(i + 1, 10)));
  for (let i = 0; i < 40; i++) {
    now += 500;
    s.tick();
  }
  assert.ok(seen.length > 200);
  assert.ok(
    seen.every((p) => p.slot > floor),
    'every slot after the floor',
  );
  assert.equal(s.lastSlot(), Math.max(...seen.map((p) => p.slot)));
});
