import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSlot, nextSlot } from '../../shared/schedule.ts';
import type { PollResult } from '../metrics/poll-result.ts';
import { createManualClock } from './clock.ts';
import { createExpectationTracker } from './tracker.ts';

const quiet = { warn() {}, error() {}, debug() {} };
const IV = 10_000;
const GRACE = 2_000;

function setup(opts: { online?: Set<number>; maxPerSweep?: number } = {}) {
  const clock = createManualClock(1_700_000_000_000);
  const online = opts.online ?? new Set<number>();
  const reported: PollResult[] = [];
  let calls = 0;
  const t = createExpectationTracker({
    log: quiet,
    clock,
    graceMs: GRACE,
    isAgentOnline: (a) => online.has(a),
    report: (rs) => {
      calls++;
      reported.push(...rs);
    },
    ...(opts.maxPerSweep ? { maxPerSweep: opts.maxPerSweep } : {}),
  });
  t.start();
  return { clock, online, reported, t, calls: () => calls };
}
const failureOf = (r: PollResult | undefined) => {
  assert.ok(r && !r.ok);
  return r;
};

test('tracker: a new monitor awaits the first slot after now and nothing is reported while results come', () => {
  const { clock, t, reported, online } = setup({ online: new Set([1]) });
  t.set({ monitor_id: 42, agent_id: 1, interval_ms: IV });
  const first = t.nextExpected(42)!;
  assert.ok(first > clock.now() && first <= clock.now() + IV);
  assert.ok(isSlot(42, IV, first));
  assert.equal(first, nextSlot(42, IV, clock.now() + 1));
  for (let k = 0; k < 20; k++) {
    clock.advance(t.nextExpected(42)! - clock.now() + 300);
    t.observe(42, new Date(t.nextExpected(42)!));
  }
  clock.advance(IV + GRACE - 1_500);
  assert.deepEqual(reported, []);
  assert.equal(t.stats().checks, 0, 'a healthy monitor is never looked at');
  assert.ok(online.has(1));
});

test('tracker: no result by slot + interval + grace is one agent_offline failure when the agent is not connected', () => {
  const { clock, t, reported } = setup();
  t.set({ monitor_id: 7, agent_id: 3, interval_ms: IV });
  const slot = t.nextExpected(7)!;
  clock.advance(slot + IV + GRACE - clock.now() - 1);
  assert.equal(reported.length, 0, 'not before the deadline');
  clock.advance(1_001);
  assert.equal(reported.length, 1);
  const r = failureOf(reported[0]);
  assert.equal(r.monitor_id, 7);
  assert.equal(r.source, 'server');
  assert.equal(r.time.getTime(), slot, 'stamped with the missed slot');
  assert.equal(r.failure.class, 'agent_offline');
  assert.match(r.failure.message, /agent is offline/);
  assert.deepEqual({ tracked: t.stats().tracked, overdue: t.stats().overdue }, { tracked: 1, overdue: 1 });
});

test('tracker: a connected agent that sends nothing gets a timeout', () => {
  const { clock, t, reported } = setup({ online: new Set([3]) });
  t.set({ monitor_id: 8, agent_id: 3, interval_ms: IV });
  clock.advance(2 * IV + GRACE + 1_000);
  assert.equal(reported.length, 1);
  assert.equal(failureOf(reported[0]).failure.class, 'timeout');
  assert.match(failureOf(reported[0]).failure.message, /agent is connected/);
});

test('tracker: a streak is reported once however long it lasts', () => {
  const { clock, t, reported, calls } = setup();
  t.set({ monitor_id: 9, agent_id: 1, interval_ms: IV });
  t.set({ monitor_id: 10, agent_id: 1, interval_ms: IV });
  for (let i = 0; i < 100; i++) clock.advance(IV / 2);
  assert.deepEqual(reported.map((r) => r.monitor_id).sort(), [10, 9].sort());
  assert.equal(t.stats().overdue, 2);
  assert.ok(calls() <= 2);
});

test('tracker: the class is reported again when it changes and stays changed (agent back, still nothing)', () => {
  const { clock, t, reported, online } = setup();
  t.set({ monitor_id: 11, agent_id: 5, interval_ms: IV });
  clock.advance(2 * IV + GRACE + 1_000);
  assert.equal(reported.length, 1);
  const first = failureOf(reported[0]);
  assert.equal(first.failure.class, 'agent_offline');
  online.add(5);
  clock.advance(IV);
  assert.equal(reported.length, 1, 'one look at a changed class is not enough (a replay may still be catching up)');
  clock.advance(IV + GRACE + 1_000);
  assert.equal(reported.length, 2);
  const second = failureOf(reported[1]);
  assert.equal(second.failure.class, 'timeout');
  assert.ok(second.time.getTime() > first.time.getTime(), 'newer than the first, so the writer records it');
  assert.ok(isSlot(11, IV, second.time.getTime()));
  assert.ok(second.time.getTime() <= clock.now() - IV - GRACE, 'a slot whose deadline has passed');
  clock.advance(20 * IV);
  assert.equal(reported.length, 2, 'and then not again');
  online.delete(5);
  clock.advance(3 * IV + 2 * GRACE);
  assert.deepEqual(
    reported.map((r) => failureOf(r).failure.class),
    ['agent_offline', 'timeout', 'agent_offline'],
  );
});

test('tracker: a class change that does not last is not reported', () => {
  const { clock, t, reported, online } = setup();
  t.set({ monitor_id: 12, agent_id: 6, interval_ms: IV });
  clock.advance(2 * IV + GRACE + 1_000);
  online.add(6);
  clock.advance(IV);
  online.delete(6);
  clock.advance(10 * IV);
  assert.equal(reported.length, 1);
});

test('tracker: a result at or after the awaited slot ends the streak; the next miss is a new streak', () => {
  const { clock, t, reported } = setup();
  t.set({ monitor_id: 13, agent_id: 1, interval_ms: IV });
  const slot = t.nextExpected(13)!;
  clock.advance(slot + IV + GRACE + 1_000 - clock.now());
  assert.equal(reported.length, 1);
  t.observe(13, new Date(slot - IV));
  assert.equal(t.stats().overdue, 1, 'a result older than the awaited slot (a replay) changes nothing');
  const late = slot + IV;
  t.observe(13, new Date(late));
  assert.equal(t.stats().overdue, 0);
  assert.equal(t.nextExpected(13), late + IV);
  clock.advance(late + 2 * IV + GRACE - clock.now() - 1);
  assert.equal(reported.length, 1);
  clock.advance(1_001);
  assert.equal(reported.length, 2);
  assert.equal(reported[1]!.time.getTime(), late + IV);
});

test('tracker: results replayed long after their slots keep the monitor in time for a whole interval + grace', () => {
  const { clock, t, reported } = setup({ online: new Set([1]) });
  t.set({ monitor_id: 14, agent_id: 1, interval_ms: IV });
  const slot = t.nextExpected(14)!;
  clock.advance(slot + 30 * IV - clock.now());
  assert.equal(reported.length, 1, 'the outage was reported');
  reported.length = 0;
  for (let k = 0; k < 30; k++) {
    t.observe(14, new Date(slot + k * IV));
    clock.advance(100);
  }
  assert.equal(t.stats().overdue, 0);
  clock.advance(IV + GRACE - 1_000);
  assert.equal(reported.length, 0, 'the replayed slots are past their deadlines, but the replay is flowing');
});

test('tracker: an interval change re-phases the monitor to the first new slot after now', () => {
  const { clock, t, reported } = setup();
  t.set({ monitor_id: 15, agent_id: 1, interval_ms: 60_000 });
  clock.advance(5_000);
  t.set({ monitor_id: 15, agent_id: 1, interval_ms: IV });
  const slot = t.nextExpected(15)!;
  assert.equal(slot, nextSlot(15, IV, clock.now() + 1));
  clock.advance(slot + IV + GRACE + 1_000 - clock.now());
  assert.equal(reported.length, 1, 'due on the new interval, not the old one');
  assert.equal(reported[0]!.time.getTime(), slot);
  t.set({ monitor_id: 15, agent_id: 2, interval_ms: IV });
  assert.equal(t.nextExpected(15), slot, 'another change keeps the awaited slot');
});

test('tracker: a removed monitor is never reported', () => {
  const { clock, t, reported } = setup();
  t.set({ monitor_id: 16, agent_id: 1, interval_ms: IV });
  t.set({ monitor_id: 17, agent_id: 1, interval_ms: IV });
  t.remove(16);
  t.remove(999);
  clock.advance(5 * IV);
  assert.deepEqual(
    reported.map((r) => r.monitor_id),
    [17],
  );
  t.remove(17);
  assert.deepEqual({ tracked: t.stats().tracked, overdue: t.stats().overdue }, { tracked: 0, overdue: 0 });
  assert.equal(t.nextExpected(17), undefined);
});

test('tracker: bad input is refused with a clear error; a report that throws does not stop the tracker', () => {
  const clock = createManualClock();
  const got: number[] = [];
  let first = true;
  const t = createExpectationTracker({
    log: quiet,
    clock,
    graceMs: GRACE,
    isAgentOnline: () => false,
    report: (rs) => {
      if (first) {
        first = false;
        throw new Error('writer closed');
      }
      got.push(...rs.map((r) => r.monitor_id));
    },
  });
  assert.throws(() => t.set({ monitor_id: 1, agent_id: 1, interval_ms: 0 }), RangeError);
  assert.throws(() => t.set({ monitor_id: -1, agent_id: 1, interval_ms: IV }), RangeError);
  assert.throws(
    () => createExpectationTracker({ log: quiet, graceMs: -1, isAgentOnline: () => true, report() {} }),
    RangeError,
  );
  t.start();
  t.set({ monitor_id: 1, agent_id: 1, interval_ms: IV });
  clock.advance(3 * IV);
  t.set({ monitor_id: 2, agent_id: 1, interval_ms: IV });
  clock.advance(3 * IV);
  assert.deepEqual(got, [2]);
  t.stop();
  t.set({ monitor_id: 3, agent_id: 1, interval_ms: IV });
  clock.advance(5 * IV);
  assert.deepEqual(got, [2], 'stopped: no sweeps');
  assert.equal(clock.timers, 0);
});

test('tracker: 100,000 monitors at 60 s cost nothing while healthy and one look each per interval while missing', () => {
  const N = 100_000;
  const MIN = 60_000;
  const online = new Set<number>([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const { clock, t, reported, calls } = setup({ online });
  const started = performance.now();
  for (let id = 1; id <= N; id++) t.set({ monitor_id: id, agent_id: 1 + (id % 10), interval_ms: MIN });
  const setMs = performance.now() - started;
  // Results arrive 500 ms after their slots; the agents of monitors with id % 10 === 0 (agent 1)
  // go silent halfway.
  const bySecond = new Map<number, number[]>();
  const bucket = (id: number) => {
    const at = t.nextExpected(id)!;
    const s = Math.floor((at + 500) / 1000);
    let l = bySecond.get(s);
    if (!l) bySecond.set(s, (l = []));
    l.push(id);
  };
  for (let id = 1; id <= N; id++) bucket(id);
  const simStart = performance.now();
  let maxChecksPerSecond = 0;
  let lastSecond = Math.floor(clock.now() / 1000) - 1;
  const steps = 6 * 60;
  for (let step = 0; step < steps; step++) {
    const before = t.stats().checks;
    clock.advance(1000);
    maxChecksPerSecond = Math.max(maxChecksPerSecond, t.stats().checks - before);
    const due: number[] = [];
    for (; lastSecond < Math.floor(clock.now() / 1000); lastSecond++) {
      due.push(...(bySecond.get(lastSecond + 1) ?? []));
      bySecond.delete(lastSecond + 1);
    }
    if (step === 180) online.delete(1);
    for (const id of due) {
      if (step >= 180 && id % 10 === 0) continue;
      t.observe(id, new Date(t.nextExpected(id)!));
      bucket(id);
    }
    if (step === 150) assert.equal(t.stats().checks, 0, 'two and a half minutes of healthy monitors: not one look');
  }
  const simMs = performance.now() - simStart;
  const silent = N / 10;
  assert.equal(reported.length, silent, 'one report per silent monitor');
  assert.ok(reported.every((r) => !r.ok && r.failure.class === 'agent_offline' && r.monitor_id % 10 === 0));
  assert.equal(t.stats().overdue, silent);
  assert.ok(calls() < 200, `reports go out in batches (${calls()} calls)`);
  assert.ok(
    maxChecksPerSecond <= 2 * (silent / 60) + 100,
    `a sweep looks only at due monitors (max ${maxChecksPerSecond}/s of ${N})`,
  );
  assert.ok(
    t.stats().checks <= 4 * silent,
    `each silent monitor is looked at about once per interval (${t.stats().checks})`,
  );
  // Generous bounds for two shared cores; typical: set ~100 ms, six simulated minutes ~1 s.
  assert.ok(setMs < 2_000, `set 100k: ${setMs.toFixed(0)} ms`);
  assert.ok(simMs < 10_000, `6 min of 100k monitors (600k results): ${simMs.toFixed(0)} ms`);
  console.log(
    `100k monitors: set ${setMs.toFixed(0)} ms; 6 simulated minutes, ${N * 6} results, ${t.stats().checks} looks: ${simMs.toFixed(0)} ms; max looks per sweep ${maxChecksPerSecond}`,
  );
});

test('tracker: more due monitors than one sweep takes are handled in follow-up sweeps straight away', () => {
  const { clock, t, reported } = setup({ maxPerSweep: 100 });
  for (let id = 1; id <= 1000; id++) t.set({ monitor_id: id, agent_id: 1, interval_ms: IV });
  clock.jump(5 * IV);
  clock.advance(0);
  assert.equal(reported.length, 1000);
});
