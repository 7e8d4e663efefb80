import type { Assignment } from '../../shared/protocol/index.ts';
import { createDueHeap, type DueItem } from '../../shared/due-heap.ts';
import { nextSlot, slotAtOrBefore } from '../../shared/schedule.ts';

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
  /**
   * The latest slot fired before (server clock, e.g. persisted across a restart): no monitor that
   * starts or is re-phased gets a slot at or before it.
   */
  floor?: number;
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

interface Entry extends DueItem {
  assignment: Assignment;
}

/**
 * The agent's schedule: every assigned monitor in a min-heap by its next slot, one timer for all.
 * Slots come from shared/schedule.ts (k * interval + a phase hashed from the monitor id), so a poll's
 * stamp is the same across retries, restarts and replays. A monitor joining (or an agent starting)
 * begins at its next slot from now: slots missed while the process was not running are not backfilled.
 *
 * Each (monitor, slot) is handed out once: a monitor's slots only move forward, and one that starts
 * or changes interval begins after the latest slot fired by any monitor (`lastSlot`), so a clock
 * offset measured smaller after a reconnect (server time stepping back) cannot repeat a slot.
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
  /** The latest slot handed to onDue (or the floor it started with); null before any. */
  lastSlot(): number | null;
}

export function createPollSchedule(o: PollScheduleOptions): PollSchedule {
  const minSleep = o.minSleepMs ?? 20;
  const maxSleep = o.maxSleepMs ?? 1000;
  const maxPerTick = o.maxPerTick ?? 2000;
  const timers = o.timers ?? {
    set: (fn: () => void, ms: number) => setTimeout(fn, ms),
    clear: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
  };
  const heap = createDueHeap<Entry>();
  const entries = new Map<number, Entry>();
  /** The latest slot fired: monitors that start or are re-phased begin after it. */
  let floor = o.floor ?? Number.NEGATIVE_INFINITY;
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
      const a = head.assignment;
      const iv = intervalMs(a);
      let slot = head.due;
      if (now - slot >= iv) {
        // More than a whole interval behind: poll the latest slot only; the others are gone.
        const latest = slotAtOrBefore(a.monitor_id, iv, now);
        missed += Math.round((latest - slot) / iv);
        slot = latest;
      }
      worstLate = Math.max(worstLate, now - slot);
      heap.set(head, slot + iv);
      if (slot > floor) floor = slot;
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
    const e = entries.get(a.monitor_id);
    if (e && e.assignment.interval_s === a.interval_s) {
      e.assignment = a;
      return;
    }
    const due = nextSlot(a.monitor_id, intervalMs(a), Math.max(now, floor + 1));
    if (e) {
      e.assignment = a;
      heap.set(e, due);
      return;
    }
    const fresh: Entry = { id: a.monitor_id, due, pos: -1, assignment: a };
    entries.set(a.monitor_id, fresh);
    heap.set(fresh, due);
  };

  const remove = (id: number): void => {
    const e = entries.get(id);
    if (!e) return;
    entries.delete(id);
    heap.remove(e);
  };

  return {
    replaceAll(assignments) {
      const now = o.now();
      const keep = new Set<number>();
      for (const a of assignments) {
        keep.add(a.monitor_id);
        upsert(a, now);
      }
      for (const id of [...entries.keys()]) if (!keep.has(id)) remove(id);
      arm();
    },
    upsert(a) {
      upsert(a, o.now());
      arm();
    },
    remove(id) {
      remove(id);
      arm();
    },
    has: (id) => entries.has(id),
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
    lastSlot: () => (Number.isFinite(floor) ? floor : null),
  };
}
