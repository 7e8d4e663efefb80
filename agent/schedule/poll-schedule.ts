import type { Assignment } from '../../shared/protocol/index.ts';
import { nextSlot, slotAtOrBefore } from '../../shared/schedule.ts';
import { createDueHeap } from './due-heap.ts';

/** One poll that is due: the monitor's assignment and its slot (server-clock epoch ms). */
export interface DuePoll {
  assignment: Assignment;
  slot: number;
}

export interface PollScheduleOptions {
  /** Server-corrected time (epoch ms): the agent's clock plus the measured (or persisted) offset. */
  now: () => number;
  /** Called once per due slot, in slot order, from the schedule's timer. Must not throw. */
  onDue: (poll: DuePoll) => void;
  /** Shortest sleep between wake-ups: polls due within it share one wake-up (and start that late). */
  minSleepMs?: number;
  /** Longest sleep: the offset (and so `now`) may move while asleep, so the clock is read this often. */
  maxSleepMs?: number;
  /** Most polls fired per wake-up; the rest follow on the next turn of the event loop. */
  maxPerTick?: number;
  /** For tests: replace the timer (the default is setTimeout). */
  timers?: { set(fn: () => void, ms: number): unknown; clear(handle: unknown): void };
}

export interface PollScheduleStats {
  monitors: number;
  /** Slots handed to onDue since start. */
  fired: number;
  /** Slots passed over because the schedule fell more than a whole interval behind (suspend, clock jump). */
  missed: number;
  /** Worst delay between a slot and its firing, since the last call to stats(). */
  worst_late_ms: number;
  /** The earliest due slot (server clock), null when nothing is scheduled. */
  next_due: number | null;
}

/**
 * The agent's schedule: every assigned monitor in a min-heap by its next slot, one timer for all.
 * Slots come from shared/schedule.ts (k * interval + a phase hashed from the monitor id), so a poll's
 * stamp is the same across retries, restarts and replays. A monitor joining (or an agent starting)
 * begins at its next slot from now: slots missed while the process was not running are not backfilled.
 */
export interface PollSchedule {
  /** Makes the schedule hold exactly these assignments (a full set arrived or was loaded). */
  replaceAll(assignments: Iterable<Assignment>): void;
  /** Adds or changes one monitor: the same interval keeps its next slot, a new interval re-phases it. */
  upsert(a: Assignment): void;
  remove(monitorId: number): void;
  has(monitorId: number): boolean;
  start(): void;
  stop(): void;
  /** Fires every slot due now (the timer calls this; tests may too). */
  tick(): void;
  stats(): PollScheduleStats;
}

export function createPollSchedule(o: PollScheduleOptions): PollSchedule {
  const minSleep = o.minSleepMs ?? 20;
  const maxSleep = o.maxSleepMs ?? 1000;
  const maxPerTick = o.maxPerTick ?? 2000;
  const timers = o.timers ?? { set: (fn: () => void, ms: number) => setTimeout(fn, ms), clear: (h: unknown) => clearTimeout(h as NodeJS.Timeout) };
  const heap = createDueHeap<Assignment>();
  let running = false;
  let timer: unknown;
  /** Server time the armed timer wakes at (Infinity when none). */
  let armedFor = Infinity;
  let fired = 0;
  let missed = 0;
  let worstLate = 0;

  const intervalMs = (a: Assignment): number => a.interval_s * 1000;

  const arm = (): void => {
    if (!running) return;
    const head = heap.peek();
    if (!head) {
      disarm();
      return;
    }
    const now = o.now();
    const wait = Math.min(maxSleep, Math.max(0, head.due - now));
    const at = now + wait;
    if (timer !== undefined && armedFor <= at) return;
    disarm();
    armedFor = at;
    timer = timers.set(
      () => {
        timer = undefined;
        armedFor = Infinity;
        tick();
      },
      wait === 0 ? 0 : Math.max(minSleep, wait),
    );
  };

  const disarm = (): void => {
    if (timer !== undefined) timers.clear(timer);
    timer = undefined;
    armedFor = Infinity;
  };

  function tick(): void {
    if (!running) return;
    const now = o.now();
    let n = 0;
    for (let head = heap.peek(); head && head.due <= now && n < maxPerTick; head = heap.peek(), n++) {
      const a = head.value;
      const iv = intervalMs(a);
      let slot = head.due;
      if (now - slot >= iv) {
        // More than a whole interval behind: poll the latest slot only; the others are gone.
        const latest = slotAtOrBefore(a.monitor_id, iv, now);
        missed += Math.round((latest - slot) / iv);
        slot = latest;
      }
      worstLate = Math.max(worstLate, now - slot);
      heap.set(a.monitor_id, slot + iv, a);
      fired++;
      o.onDue({ assignment: a, slot });
    }
    const head = heap.peek();
    if (head && head.due <= now) {
      // Over the per-tick cap: let the event loop breathe, then go on.
      disarm();
      armedFor = now;
      timer = timers.set(() => {
        timer = undefined;
        armedFor = Infinity;
        tick();
      }, 0);
      return;
    }
    arm();
  }

  const upsert = (a: Assignment, now: number): void => {
    const e = heap.get(a.monitor_id);
    if (e && e.value.interval_s === a.interval_s) {
      e.value = a;
      return;
    }
    heap.set(a.monitor_id, nextSlot(a.monitor_id, intervalMs(a), now), a);
  };

  return {
    replaceAll(assignments) {
      const now = o.now();
      const keep = new Set<number>();
      for (const a of assignments) {
        keep.add(a.monitor_id);
        upsert(a, now);
      }
      for (const id of [...heap.ids()]) if (!keep.has(id)) heap.remove(id);
      arm();
    },
    upsert(a) {
      upsert(a, o.now());
      arm();
    },
    remove(id) {
      heap.remove(id);
      arm();
    },
    has: (id) => heap.get(id) !== undefined,
    start() {
      if (running) return;
      running = true;
      arm();
    },
    stop() {
      running = false;
      disarm();
    },
    tick,
    stats() {
      const s = { monitors: heap.size, fired, missed, worst_late_ms: worstLate, next_due: heap.peek()?.due ?? null };
      worstLate = 0;
      return s;
    },
  };
}
