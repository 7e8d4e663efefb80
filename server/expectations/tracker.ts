import type { Logger } from 'pino';
import { nextSlot, slotAtOrBefore } from '../../shared/schedule.ts';
import type { PollResult, WriteOutcome } from '../metrics/poll-result.ts';
import { systemClock, type Clock } from './clock.ts';
import { createDueHeap, type DueItem } from '../../shared/due-heap.ts';

/**
 * The server's side of the schedule: agents run their monitors' polls on their own clocks
 * (shared/schedule.ts slots); the server only knows when each monitor's next result is due and
 * notices when it does not come.
 *
 * A monitor awaits the slot after the last result seen (a new or re-phased monitor: the first slot
 * after now). When nothing at or after that slot has arrived by slot + interval + grace, the
 * tracker hands the metrics writer ONE server-made failure for the missed slot: `agent_offline`
 * when the monitor's agent is not connected, else `timeout`. The streak is not reported again,
 * except when its class changes (the agent came back and still nothing, or went away) and stays
 * changed for a whole interval + grace, so a replay that is still catching up is not called a
 * timeout. A result at or after the awaited slot ends the streak.
 *
 * Cost: one timer and one heap of monitors keyed by the time they next need looking at; a
 * result moves its monitor in the heap (O(log n)); a sweep touches only the monitors that are
 * due, never the whole set. Healthy monitors are never looked at.
 */
export type MissingClass = 'agent_offline' | 'timeout';

export interface ExpectedMonitor {
  monitor_id: number;
  agent_id: number;
  interval_ms: number;
}

export interface ExpectationTrackerOptions {
  log: Pick<Logger, 'warn' | 'error' | 'debug'>;
  clock?: Clock;
  /** Extra time after slot + interval before a missing result counts. */
  graceMs: number;
  isAgentOnline(agentId: number): boolean;
  /** Receives the server-made failures (source `server`); the metrics writer stores them. Never awaited. */
  report(results: PollResult[]): void;
  /** Shortest time between two sweeps (default 1,000 ms): misses are found to this precision. */
  sweepMs?: number;
  /** Most monitors looked at in one sweep (default 10,000); the rest follow at once in the next. */
  maxPerSweep?: number;
  /** Most results in one `report` call (default 1,000). */
  maxReportBatch?: number;
}

export interface ExpectationTrackerStats {
  tracked: number;
  /** Monitors whose current streak of missing results has been reported. */
  overdue: number;
  /** Monitors looked at by sweeps since creation (a healthy monitor never is). */
  checks: number;
  /** Server-made failures handed to `report` since creation. */
  reports: number;
}

export interface ExpectationTracker {
  start(): void;
  stop(): void;
  /** Adds or updates a monitor. A new monitor, or a changed interval, awaits the first slot after now. */
  set(m: ExpectedMonitor): void;
  remove(monitorId: number): void;
  /** A result the agent reported (success or failure) for the poll scheduled at `time`. Never call it with server-made results. */
  observe(monitorId: number, time: Date): void;
  /** `observe` for each agent-reported outcome of a committed batch (a metrics writer onCommit listener). */
  observeOutcomes(outcomes: readonly WriteOutcome[]): void;
  stats(): ExpectationTrackerStats;
  /** The slot (epoch ms) of the result the monitor awaits. */
  nextExpected(monitorId: number): number | undefined;
}

interface Expectation extends DueItem {
  agent: number;
  interval: number;
  /** The earliest slot whose result has not been seen. */
  expected: number;
  /** Class reported for the current streak; undefined while results come. */
  reported: MissingClass | undefined;
  /** Slot of the last report. */
  reportedAt: number;
  /** A class change seen at one look, reported if still so at the next. */
  pending: MissingClass | undefined;
}

const positiveInt = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n > 0;

export function createExpectationTracker(o: ExpectationTrackerOptions): ExpectationTracker {
  const clock = o.clock ?? systemClock;
  const grace = o.graceMs;
  const sweepMs = o.sweepMs ?? 1_000;
  const maxPerSweep = o.maxPerSweep ?? 10_000;
  const maxReportBatch = o.maxReportBatch ?? 1_000;
  if (!Number.isFinite(grace) || grace < 0)
    throw new RangeError(`expectation tracker: graceMs must be a non-negative number, got ${grace}`);
  if (!positiveInt(sweepMs) || !positiveInt(maxPerSweep) || !positiveInt(maxReportBatch)) {
    throw new RangeError('expectation tracker: sweepMs, maxPerSweep and maxReportBatch must be positive integers');
  }

  const monitors = new Map<number, Expectation>();
  const heap = createDueHeap<Expectation>();
  let running = false;
  let timer: unknown;
  let armedAt = Infinity;
  let lastSweep = -Infinity;
  let overdue = 0;
  let checks = 0;
  let reports = 0;

  /** The awaited slot's result may still arrive until slot + interval + grace; a result seen now buys at least that long. */
  const arm = (e: Expectation, now: number): void => heap.set(e, Math.max(e.expected, now) + e.interval + grace);
  const firstSlotAfter = (e: Expectation, at: number): number => nextSlot(e.id, e.interval, at + 1);

  const armTimer = (soon = false): void => {
    if (!running) return;
    const top = heap.peek();
    if (!top) return;
    const at = soon ? clock.now() : Math.max(top.due, lastSweep + sweepMs);
    if (timer !== undefined && armedAt <= at) return;
    if (timer !== undefined) clock.clearTimer(timer);
    armedAt = at;
    timer = clock.setTimer(sweep, at - clock.now());
  };

  const emit = (e: Expectation, slot: number, cls: MissingClass, out: PollResult[]): void => {
    const when = new Date(slot);
    const message =
      cls === 'agent_offline'
        ? `the agent is offline: no result for the poll scheduled at ${when.toISOString()}`
        : `no result for the poll scheduled at ${when.toISOString()} although the agent is connected`;
    out.push({ monitor_id: e.id, time: when, ok: false, source: 'server', failure: { class: cls, message } });
    e.reported = cls;
    e.reportedAt = slot;
    e.pending = undefined;
    reports++;
  };

  const check = (e: Expectation, now: number, out: PollResult[]): void => {
    checks++;
    const cls: MissingClass = o.isAgentOnline(e.agent) ? 'timeout' : 'agent_offline';
    if (e.reported === undefined) {
      emit(e, e.expected, cls, out);
      overdue++;
    } else if (cls === e.reported) {
      e.pending = undefined;
    } else if (e.pending !== cls) {
      e.pending = cls;
      heap.set(e, now + e.interval + grace);
      return;
    } else {
      const latestMissed = slotAtOrBefore(e.id, e.interval, now - e.interval - grace);
      emit(e, Math.max(latestMissed, firstSlotAfter(e, e.reportedAt)), cls, out);
    }
    heap.set(e, now + e.interval);
  };

  function sweep(): void {
    timer = undefined;
    armedAt = Infinity;
    if (!running) return;
    const now = clock.now();
    lastSweep = now;
    const out: PollResult[] = [];
    let n = 0;
    for (let top = heap.peek(); top && top.due <= now && n < maxPerSweep; top = heap.peek(), n++) check(top, now, out);
    for (let i = 0; i < out.length; i += maxReportBatch) {
      try {
        o.report(out.slice(i, i + maxReportBatch));
      } catch (err) {
        o.log.error({ err }, 'expectation tracker: report threw');
      }
    }
    const more = heap.peek();
    armTimer(n >= maxPerSweep && more !== undefined && more.due <= now);
  }

  const observe = (monitorId: number, time: Date): void => {
    const e = monitors.get(monitorId);
    if (!e) return;
    const t = time.getTime();
    if (!Number.isFinite(t) || t < e.expected) return;
    const now = clock.now();
    if (t > now + e.interval) {
      o.log.debug({ monitor_id: monitorId, time: t, now }, 'expectation tracker: result from the future ignored');
      return;
    }
    e.expected = firstSlotAfter(e, t);
    if (e.reported !== undefined) overdue--;
    e.reported = undefined;
    e.pending = undefined;
    arm(e, now);
  };

  return {
    start() {
      if (running) return;
      running = true;
      armTimer();
    },
    stop() {
      running = false;
      if (timer !== undefined) clock.clearTimer(timer);
      timer = undefined;
      armedAt = Infinity;
    },
    set(m) {
      if (!positiveInt(m.monitor_id) || !positiveInt(m.agent_id) || !positiveInt(m.interval_ms)) {
        throw new RangeError(
          `expectation tracker: monitor_id, agent_id and interval_ms must be positive integers (monitor ${m.monitor_id})`,
        );
      }
      const now = clock.now();
      let e = monitors.get(m.monitor_id);
      if (!e) {
        e = {
          id: m.monitor_id,
          due: 0,
          pos: -1,
          agent: m.agent_id,
          interval: m.interval_ms,
          expected: 0,
          reported: undefined,
          reportedAt: 0,
          pending: undefined,
        };
        e.expected = firstSlotAfter(e, now);
        monitors.set(e.id, e);
        arm(e, now);
      } else {
        e.agent = m.agent_id;
        if (e.interval !== m.interval_ms) {
          e.interval = m.interval_ms;
          e.expected = firstSlotAfter(e, now);
          e.pending = undefined;
          arm(e, now);
        }
      }
      armTimer();
    },
    remove(monitorId) {
      const e = monitors.get(monitorId);
      if (!e) return;
      heap.remove(e);
      monitors.delete(monitorId);
      if (e.reported !== undefined) overdue--;
    },
    observe,
    observeOutcomes(outcomes) {
      for (const x of outcomes) if (x.source === 'agent') observe(x.monitor_id, x.time);
    },
    stats: () => ({ tracked: monitors.size, overdue, checks, reports }),
    nextExpected: (monitorId) => monitors.get(monitorId)?.expected,
  };
}
