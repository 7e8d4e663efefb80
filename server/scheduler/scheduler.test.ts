import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from './clock.ts';
import { createScheduler, nextSlot, type PollJob, type TimedOutJob } from './scheduler.ts';
import type { ScheduledMonitor, SchedulerStore } from './scheduler-store.ts';

const silent = { info() {}, warn() {}, error() {}, debug() {} };

function monitor(id: number, over: Partial<ScheduledMonitor> = {}): ScheduledMonitor {
  return {
    monitor_id: id,
    device_id: 1000 + id,
    agent_id: 1,
    ip: `10.0.0.${id % 250}`,
    use_ssl: false,
    port: 5985,
    credential_profile_id: 1,
    plugin_id: 1,
    interval_ms: 60_000,
    ...over,
  };
}

function memoryStore(initial: ScheduledMonitor[]) {
  const attempted: { ids: number[]; at: number }[] = [];
  const offline: { ids: number[]; at: number }[] = [];
  const store: SchedulerStore = {
    loadAll: async () => initial,
    loadMonitor: async () => undefined,
    loadDevice: async () => [],
    markAttempted: async (ids, at) => void attempted.push({ ids: [...ids], at: at.getTime() }),
    markAgentOffline: async (ids, at) => void offline.push({ ids: [...ids], at: at.getTime() }),
  };
  return { store, attempted, offline };
}

interface Harness {
  clock: ReturnType<typeof createManualClock>;
  sent: { at: number; agent: number; job: PollJob }[];
  timedOut: TimedOutJob[];
  online: Set<number>;
  window: { limit: number };
  mem: ReturnType<typeof memoryStore>;
  sched: ReturnType<typeof createScheduler>;
}

async function harness(initial: ScheduledMonitor[], config = {}): Promise<Harness> {
  const clock = createManualClock();
  const sent: Harness['sent'] = [];
  const timedOut: TimedOutJob[] = [];
  const online = new Set([1, 2]);
  const window = { limit: Infinity };
  const mem = memoryStore(initial);
  const sched = createScheduler({
    store: mem.store,
    log: silent,
    clock,
    isAgentOnline: (a) => online.has(a),
    dispatch: (agent, jobs) => {
      const n = Math.max(0, Math.min(jobs.length, window.limit));
      for (const job of jobs.slice(0, n)) sent.push({ at: clock.now(), agent, job });
      window.limit -= n;
      return n;
    },
    onTimeout: (jobs) => void timedOut.push(...jobs),
    config,
  });
  await sched.start();
  return { clock, sent, timedOut, online, window, mem, sched };
}

test('first due times of monitors created together spread across their interval', async () => {
  const ms = Array.from({ length: 6000 }, (_, i) => monitor(i + 1));
  const h = await harness(ms);
  const start = h.clock.now();
  const perSecond = new Array<number>(60).fill(0);
  for (const m of ms) {
    const due = h.sched.nextDue(m.monitor_id)!;
    assert.ok(due >= start && due < start + 60_000, `due ${due - start} outside the interval`);
    perSecond[Math.floor((due - start) / 1000)]!++;
  }
  // 100 per second on average; all in one second would be 6000.
  assert.ok(Math.max(...perSecond) < 160, `busiest second has ${Math.max(...perSecond)}`);
  assert.ok(Math.min(...perSecond) > 50, `emptiest second has ${Math.min(...perSecond)}`);
  await h.sched.stop();
});

test('dispatches every monitor once per interval at its due time, sleeping until the next due', async () => {
  const ms = [monitor(1), monitor(2), monitor(3)];
  const h = await harness(ms);
  const start = h.clock.now();
  h.clock.advance(5 * 60_000 - 1);
  for (const m of ms) {
    const mine = h.sent.filter((s) => s.job.monitor_id === m.monitor_id);
    assert.equal(mine.length, 5, `monitor ${m.monitor_id} dispatched ${mine.length} times`);
    const first = nextSlot(m.monitor_id, 60_000, start);
    mine.forEach((s, i) => {
      assert.equal(s.job.due, first + i * 60_000);
      assert.equal(s.at, s.job.due, 'dispatched late with the clock idle');
    });
  }
  // Only one timer pending (the next due), not a ticking loop; plus at most a state flush.
  assert.ok(h.clock.timers <= 2);
  await h.sched.stop();
});

test('monitors due close together are dispatched in one batch no later than minSleepMs', async () => {
  const ms = Array.from({ length: 2000 }, (_, i) => monitor(i + 1));
  const h = await harness(ms, { minSleepMs: 50 });
  h.clock.advance(60_050);
  h.sent.splice(2000);
  assert.equal(h.sent.length, 2000);
  const lateness = h.sent.map((s) => s.at - s.job.due);
  assert.ok(Math.max(...lateness) <= 50, `max lateness ${Math.max(...lateness)}`);
  const batches = new Set(h.sent.map((s) => s.at)).size;
  assert.ok(batches <= 60_000 / 50 + 1, `${batches} dispatch runs`);
  assert.ok(batches < 2000, 'jobs were not batched at all');
  await h.sched.stop();
});

test('an interval change takes effect on the next dispatch; other changes keep the due time', async () => {
  const h = await harness([monitor(7)]);
  h.clock.advance(60_000);
  assert.equal(h.sent.length, 1);
  const due = h.sched.nextDue(7)!;
  h.sched.upsert(monitor(7, { port: 5986 }));
  assert.equal(h.sched.nextDue(7), due);
  h.sched.upsert(monitor(7, { port: 5986, interval_ms: 10_000 }));
  assert.ok(h.sched.nextDue(7)! - h.clock.now() < 10_000);
  h.sent.length = 0;
  h.clock.advance(60_000);
  assert.equal(h.sent.length, 6);
  assert.ok(h.sent.every((s) => s.job.port === 5986));
  const gaps = h.sent.slice(1).map((s, i) => s.job.due - h.sent[i]!.job.due);
  assert.deepEqual(gaps, [10_000, 10_000, 10_000, 10_000, 10_000]);
  await h.sched.stop();
});

test('a deleted monitor, or every monitor of a removed device, is never dispatched again', async () => {
  const h = await harness([monitor(1), monitor(2, { device_id: 50 }), monitor(3, { device_id: 50 }), monitor(4)]);
  h.sched.remove(1);
  h.sched.removeDevice(50);
  h.clock.advance(3 * 60_000);
  assert.deepEqual([...new Set(h.sent.map((s) => s.job.monitor_id))], [4]);
  assert.equal(h.sched.stats().scheduled, 1);
  await h.sched.stop();
});

test('a monitor added while running is scheduled on its phase slot, not immediately', async () => {
  const h = await harness([]);
  h.clock.advance(12_345);
  h.sched.upsert(monitor(99));
  const expected = nextSlot(99, 60_000, h.clock.now());
  assert.equal(h.sched.nextDue(99), expected);
  h.clock.advance(60_000);
  assert.equal(h.sent.length, 1);
  assert.equal(h.sent[0]!.at, expected);
  await h.sched.stop();
});

test('a monitor whose agent is offline is not dispatched and is recorded as agent offline in one batch', async () => {
  const ms = Array.from({ length: 50 }, (_, i) => monitor(i + 1, { agent_id: i < 30 ? 2 : 1 }));
  const h = await harness(ms, { stateFlushMs: 60_000 });
  h.online.delete(2);
  h.clock.advance(60_000);
  assert.equal(h.sent.length, 20);
  assert.ok(h.sent.every((s) => s.agent === 1));
  await h.sched.flush();
  assert.equal(h.mem.offline.length, 1, 'offline state written in one UPDATE');
  assert.deepEqual(
    [...h.mem.offline[0]!.ids].sort((a, b) => a - b),
    Array.from({ length: 30 }, (_, i) => i + 1),
  );
  assert.equal(h.mem.attempted.length, 1);
  assert.equal(h.mem.attempted[0]!.ids.length, 20);
  h.online.add(2);
  h.sent.length = 0;
  h.clock.advance(60_000);
  assert.equal(h.sent.length, 50);
  await h.sched.stop();
});

test('jobs beyond the agent window stay due and go out, oldest first, when the window opens', async () => {
  const ms = Array.from({ length: 10 }, (_, i) => monitor(i + 1));
  const h = await harness(ms);
  h.window.limit = 3;
  h.clock.advance(60_000);
  assert.equal(h.sent.length, 3);
  assert.equal(h.sched.stats().waiting, 7);
  h.window.limit = 4;
  h.sched.onWindowOpen(1);
  assert.equal(h.sent.length, 7);
  h.window.limit = 100;
  h.sched.onWindowOpen(1);
  assert.equal(h.sent.length, 10);
  assert.equal(new Set(h.sent.map((s) => s.job.monitor_id)).size, 10, 'no monitor sent twice');
  const dues = h.sent.map((s) => s.job.due);
  assert.deepEqual(dues, [...dues].sort((a, b) => a - b));
  // The late ones keep their phase: next due is one interval after the original due.
  for (const s of h.sent) assert.equal(h.sched.nextDue(s.job.monitor_id), s.job.due + 60_000);
  await h.sched.stop();
});

test('a job without a result by deadline plus grace is reported as timed out; a completed one is not', async () => {
  const h = await harness([monitor(1), monitor(2)], { jobTimeoutMs: 20_000, graceMs: 5_000 });
  h.clock.advance(60_000);
  assert.equal(h.sent.length, 2);
  const [a, b] = h.sent.map((s) => s.job);
  assert.equal(a!.deadline - h.sent[0]!.at, 20_000);
  h.sched.complete([b!.job_id]);
  h.clock.advance(30_000);
  assert.deepEqual(
    h.timedOut.map((j) => j.job_id),
    [a!.job_id],
  );
  assert.ok(!h.timedOut.some((j) => j.job_id === b!.job_id));
  await h.sched.stop();
});

test('a job deadline never exceeds the monitor interval', async () => {
  const h = await harness([monitor(1, { interval_ms: 10_000 })], { jobTimeoutMs: 60_000 });
  h.clock.advance(10_000);
  const s = h.sent[0]!;
  assert.equal(s.job.deadline - s.at, 10_000);
  await h.sched.stop();
});

test('after a stall longer than the interval the monitor is dispatched once, late, and resumes on its phase', async () => {
  const h = await harness([monitor(5)], { minSleepMs: 0 });
  const first = h.sched.nextDue(5)!;
  h.clock.jump(first - h.clock.now() + 210_000);
  h.clock.advance(0);
  assert.equal(h.sent.length, 1);
  assert.equal(h.sent[0]!.at - h.sent[0]!.job.due, 210_000, 'lateness is measured from the due time');
  const next = h.sched.nextDue(5)!;
  assert.ok(next > h.clock.now(), 'never scheduled in the past');
  assert.equal((next - first) % 60_000, 0, 'phase kept');
  h.clock.advance(60_000);
  assert.equal(h.sent.length, 2);
  await h.sched.stop();
});

/** A scheduler whose agent window holds each job, as the hub does, until its result or deadline + grace. */
async function heldWindowHarness(ms: ScheduledMonitor[], window: { limit: number }, graceMs: number) {
  const clock = createManualClock();
  const held = new Map<string, number>();
  const sent: PollJob[] = [];
  const timedOut: TimedOutJob[] = [];
  const sched = createScheduler({
    store: memoryStore(ms).store, log: silent, clock, isAgentOnline: () => true,
    dispatch: (_agent, jobs) => {
      for (const [id, expires] of held) if (expires <= clock.now()) held.delete(id);
      const n = Math.max(0, Math.min(jobs.length, window.limit - held.size));
      for (const j of jobs.slice(0, n)) {
        held.set(j.job_id, j.deadline + graceMs);
        sent.push(j);
      }
      return n;
    },
    onTimeout: (jobs) => void timedOut.push(...jobs),
    config: { graceMs },
  });
  await sched.start();
  return { clock, sched, sent, timedOut };
}

test('results that never come back free the window at deadline + grace: every monitor keeps being polled', async () => {
  // 3 monitors every 10 s, a window of 2: jobs are held 25 s (10 s deadline + 15 s grace), so they wait.
  const h = await heldWindowHarness([1, 2, 3].map((id) => monitor(id, { interval_ms: 10_000 })), { limit: 2 }, 15_000);
  h.clock.advance(30 * 60_000);
  const per = [1, 2, 3].map((id) => h.sent.filter((j) => j.monitor_id === id).length);
  // 30 min / 25 s per slot × 2 slots = 144 jobs shared by three monitors; none may starve.
  assert.ok(h.sent.length >= 140, `the window is used all along (${h.sent.length} jobs)`);
  assert.ok(per.every((n) => n >= 30), `every monitor polled through the half hour: ${per.join(', ')}`);
  assert.ok(h.timedOut.length >= h.sent.length - 2, `every unanswered job timed out (${h.timedOut.length} of ${h.sent.length})`);
  await h.sched.stop();
});

test('jobs sent when the window opens get their timeouts armed, and the monitors carry on after them', async () => {
  const window = { limit: 0 };
  const h = await heldWindowHarness([monitor(1), monitor(2)], window, 5_000);
  h.clock.advance(60_000);
  assert.equal(h.sent.length, 0, 'no room: both wait');
  window.limit = 2;
  h.sched.onWindowOpen(1);
  assert.equal(h.sent.length, 2, 'both go out when the window opens');
  h.clock.advance(10 * 60_000);
  assert.ok(h.timedOut.length >= 2, `their timeouts fired (${h.timedOut.length})`);
  assert.ok(h.sent.length >= 10, `polling carried on (${h.sent.length} jobs in 10 minutes)`);
  await h.sched.stop();
});
