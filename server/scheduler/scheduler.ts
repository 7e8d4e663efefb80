import type { Logger } from 'pino';
import type pg from 'pg';
import { createDueHeap } from './heap.ts';
import { systemClock, type Clock } from './clock.ts';
import { createSchedulerStore, type SchedulerStore, type ScheduledMonitor } from './scheduler-store.ts';

export type { ScheduledMonitor } from './scheduler-store.ts';

/** One poll job as the scheduler hands it to the agent hub. Times are epoch milliseconds. */
export interface PollJob {
  job_id: string;
  monitor_id: number;
  device_id: number;
  ip: string;
  port: number;
  use_ssl: boolean;
  credential_profile_id: number;
  plugin_id: number;
  due: number;
  deadline: number;
}

/** A job whose result never came back: the caller records it as a failed attempt (class `timeout`). */
export interface TimedOutJob {
  job_id: string;
  monitor_id: number;
  device_id: number;
  due: number;
  deadline: number;
}

export interface SchedulerConfig {
  /** Upper bound of a job's run time; a job never gets more than its monitor's interval. */
  jobTimeoutMs: number;
  /** How long after the deadline a result may still arrive before the attempt counts as timed out. */
  graceMs: number;
  /** Shortest sleep between two runs, so 100k spread monitors cost tens of wake-ups a second, not thousands. */
  minSleepMs: number;
  /** How often last_attempted / agent-offline state is written (one UPDATE per kind per flush). */
  stateFlushMs: number;
  /** Most jobs handed to one dispatch call. */
  maxBatch: number;
}

export const defaultSchedulerConfig: Readonly<SchedulerConfig> = Object.freeze({
  jobTimeoutMs: 60_000,
  graceMs: 15_000,
  minSleepMs: 20,
  stateFlushMs: 1_000,
  maxBatch: 500,
});

export interface SchedulerOptions {
  pool?: pg.Pool;
  /** Replaces the pg-backed store (unit tests, benchmarks). */
  store?: SchedulerStore;
  log: Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;
  clock?: Clock;
  /**
   * Hands jobs to an agent's session. Returns how many of them (a prefix) fit the agent's
   * flow-control window; the rest stay due and go out when the hub calls `onWindowOpen`.
   */
  dispatch: (agentId: number, jobs: PollJob[]) => number;
  isAgentOnline: (agentId: number) => boolean;
  /** Called with jobs that passed deadline + grace without a result. */
  onTimeout?: (jobs: TimedOutJob[]) => void;
  config?: Partial<SchedulerConfig>;
}

export interface Scheduler {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Inserts or updates a monitor. An interval change re-phases it; other changes keep its due time. */
  upsert(m: ScheduledMonitor): void;
  remove(monitorId: number): void;
  removeDevice(deviceId: number): void;
  /** Re-reads one monitor (after create/update/enable/disable) and adds, moves or drops it. */
  refreshMonitor(monitorId: number): Promise<void>;
  /** Re-reads a device's monitors (after a status change). */
  refreshDevice(deviceId: number): Promise<void>;
  /** The hub calls this when results for these jobs arrive, so they are not counted as timeouts. */
  complete(jobIds: Iterable<string>): void;
  /** The hub calls this when an agent's window has room again (acks, or the agent came online). */
  onWindowOpen(agentId: number): void;
  /** Flushes pending last_attempted / agent-offline updates now. */
  flush(): Promise<void>;
  stats(): { scheduled: number; inFlight: number; waiting: number; dispatched: number };
  nextDue(monitorId: number): number | undefined;
}

/** Stable per-monitor phase in [0, interval): monitors created together spread across the interval. */
export function phaseOf(monitorId: number, intervalMs: number): number {
  let h = monitorId | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % intervalMs;
}

/** The first time >= now that falls on the monitor's phase. */
export function nextSlot(monitorId: number, intervalMs: number, now: number): number {
  const phase = phaseOf(monitorId, intervalMs);
  const offset = (((phase - (now % intervalMs)) % intervalMs) + intervalMs) % intervalMs;
  return now + offset;
}

interface Waiting {
  m: ScheduledMonitor;
  due: number;
}

export function createScheduler(opts: SchedulerOptions): Scheduler {
  const cfg: SchedulerConfig = Object.freeze({ ...defaultSchedulerConfig, ...opts.config });
  const clock = opts.clock ?? systemClock;
  const log = opts.log;
  const store =
    opts.store ??
    (opts.pool
      ? createSchedulerStore(opts.pool)
      : (() => {
          throw new Error('createScheduler needs a pool or a store');
        })());

  const heap = createDueHeap<ScheduledMonitor>();
  const byDevice = new Map<number, Set<number>>();
  const waiting = new Map<number, Waiting[]>();
  const waitingIds = new Set<number>();
  // Jobs out on an agent, by job id, and ordered by expiry (deadline + grace) for timeout checks.
  const inFlight = new Map<string, TimedOutJob>();
  const expiry = createDueHeap<string>();
  let expirySeq = 0;
  const expiryKey = new Map<string, number>();

  let attempted: number[] = [];
  let attemptedAt = 0;
  let offline: number[] = [];
  let offlineAt = 0;
  let flushing: Promise<void> | undefined;
  let flushTimer: unknown;

  let timer: unknown;
  let timerAt = Infinity;
  let running = false;
  let lastRun = -Infinity;
  let dispatched = 0;

  const track = (m: ScheduledMonitor): void => {
    let s = byDevice.get(m.device_id);
    if (!s) byDevice.set(m.device_id, (s = new Set()));
    s.add(m.monitor_id);
  };
  const untrack = (monitorId: number, deviceId: number): void => {
    const s = byDevice.get(deviceId);
    if (!s) return;
    s.delete(monitorId);
    if (s.size === 0) byDevice.delete(deviceId);
  };

  const schedule = (): void => {
    if (!running) return;
    const head = heap.peek();
    const nextExpiry = expiry.peek();
    let at = Math.min(head?.due ?? Infinity, nextExpiry?.due ?? Infinity);
    if (at === Infinity) {
      if (timer !== undefined) clock.clearTimer(timer);
      timer = undefined;
      timerAt = Infinity;
      return;
    }
    at = Math.max(at, lastRun + cfg.minSleepMs);
    if (timer !== undefined && timerAt <= at) return;
    if (timer !== undefined) clock.clearTimer(timer);
    timerAt = at;
    timer = clock.setTimer(run, at - clock.now());
  };

  const scheduleFlush = (): void => {
    if (flushTimer !== undefined || !running) return;
    flushTimer = clock.setTimer(() => {
      flushTimer = undefined;
      void flush();
    }, cfg.stateFlushMs);
  };

  const flush = async (): Promise<void> => {
    if (flushing) await flushing;
    if (attempted.length === 0 && offline.length === 0) return;
    const a = attempted;
    const aAt = attemptedAt;
    const o = offline;
    const oAt = offlineAt;
    attempted = [];
    offline = [];
    flushing = (async () => {
      try {
        if (a.length) await store.markAttempted(a, new Date(aAt));
        if (o.length) await store.markAgentOffline(o, new Date(oAt));
      } catch (err) {
        log.error({ err }, 'scheduler: could not record attempts');
      }
    })();
    await flushing;
    flushing = undefined;
  };

  /** Next due after a dispatch: fixed rate on the monitor's phase, skipping slots already missed. */
  const advance = (m: ScheduledMonitor, due: number, now: number): number => {
    const next = due + m.interval_ms;
    return next > now ? next : nextSlot(m.monitor_id, m.interval_ms, now + 1);
  };

  const makeJob = (m: ScheduledMonitor, due: number, now: number): PollJob => ({
    job_id: `${m.monitor_id}-${due}`,
    monitor_id: m.monitor_id,
    device_id: m.device_id,
    ip: m.ip,
    port: m.port,
    use_ssl: m.use_ssl,
    credential_profile_id: m.credential_profile_id,
    plugin_id: m.plugin_id,
    due,
    deadline: now + Math.min(cfg.jobTimeoutMs, m.interval_ms),
  });

  /** Sends an agent's waiting jobs (oldest first) as far as its window allows. */
  const drainAgent = (agentId: number, now: number): void => {
    const q = waiting.get(agentId);
    if (!q || q.length === 0) return;
    if (!opts.isAgentOnline(agentId)) {
      for (const w of q) {
        waitingIds.delete(w.m.monitor_id);
        markOffline(w.m.monitor_id, now);
        requeue(w.m, w.due, now);
      }
      waiting.delete(agentId);
      return;
    }
    let sent = 0;
    while (sent < q.length) {
      const slice = q.slice(sent, sent + cfg.maxBatch);
      const jobs = slice.map((w) => makeJob(w.m, w.due, now));
      let accepted = 0;
      try {
        accepted = Math.max(0, Math.min(jobs.length, opts.dispatch(agentId, jobs)));
      } catch (err) {
        log.error({ err, agentId }, 'scheduler: dispatch threw');
      }
      for (let i = 0; i < accepted; i++) {
        const job = jobs[i]!;
        const w = slice[i]!;
        waitingIds.delete(w.m.monitor_id);
        inFlight.set(job.job_id, {
          job_id: job.job_id,
          monitor_id: job.monitor_id,
          device_id: job.device_id,
          due: job.due,
          deadline: job.deadline,
        });
        const key = ++expirySeq;
        expiryKey.set(job.job_id, key);
        expiry.set(key, job.deadline + cfg.graceMs, job.job_id);
        attempted.push(job.monitor_id);
        attemptedAt = now;
        requeue(w.m, w.due, now);
      }
      sent += accepted;
      dispatched += accepted;
      if (accepted < jobs.length) break;
    }
    if (sent >= q.length) waiting.delete(agentId);
    else waiting.set(agentId, q.slice(sent));
    if (sent > 0) {
      scheduleFlush();
      schedule(); // the new jobs' expiries may come before anything already timed
    }
  };

  const requeue = (m: ScheduledMonitor, due: number, now: number): void => {
    // The monitor may have been removed or re-phased while it waited for a window.
    const cur = heap.get(m.monitor_id);
    if (!cur || cur.due !== Infinity) return;
    heap.set(m.monitor_id, advance(m, due, now), cur.value);
  };

  const markOffline = (monitorId: number, now: number): void => {
    offline.push(monitorId);
    offlineAt = now;
    scheduleFlush();
  };

  const run = (): void => {
    timer = undefined;
    timerAt = Infinity;
    if (!running) return;
    const now = clock.now();
    lastRun = now;

    const due = heap.popDue(now);
    const touched = new Set<number>();
    for (const e of due) {
      const m = e.value;
      if (!opts.isAgentOnline(m.agent_id)) {
        markOffline(m.monitor_id, now);
        heap.set(m.monitor_id, advance(m, e.due, now), m);
        continue;
      }
      // Kept in the heap at +Infinity while waiting, so remove/update events still find it.
      heap.set(m.monitor_id, Infinity, m);
      waitingIds.add(m.monitor_id);
      let q = waiting.get(m.agent_id);
      if (!q) waiting.set(m.agent_id, (q = []));
      q.push({ m, due: e.due });
      touched.add(m.agent_id);
    }
    for (const agentId of touched) drainAgent(agentId, now);

    const expired = expiry.popDue(now);
    if (expired.length) {
      const out: TimedOutJob[] = [];
      for (const e of expired) {
        const job = inFlight.get(e.value);
        expiryKey.delete(e.value);
        if (!job) continue;
        inFlight.delete(e.value);
        out.push(job);
      }
      if (out.length && opts.onTimeout) {
        try {
          opts.onTimeout(out);
        } catch (err) {
          log.error({ err }, 'scheduler: onTimeout threw');
        }
      }
      // A job without a result no longer holds its agent's window (the hub frees the slot at the
      // same deadline + grace): jobs waiting for that room go out now, not when something else is due.
      for (const agentId of [...waiting.keys()]) if (!touched.has(agentId)) drainAgent(agentId, now);
    }
    schedule();
  };

  const dropWaiting = (monitorId: number): void => {
    if (!waitingIds.delete(monitorId)) return;
    for (const [agentId, q] of waiting) {
      const i = q.findIndex((w) => w.m.monitor_id === monitorId);
      if (i >= 0) {
        q.splice(i, 1);
        if (q.length === 0) waiting.delete(agentId);
        return;
      }
    }
  };

  const upsert = (m: ScheduledMonitor): void => {
    const cur = heap.get(m.monitor_id);
    const now = clock.now();
    if (!cur) {
      heap.set(m.monitor_id, nextSlot(m.monitor_id, m.interval_ms, now), m);
      track(m);
    } else {
      const old = cur.value;
      if (old.device_id !== m.device_id) {
        untrack(old.monitor_id, old.device_id);
        track(m);
      }
      const moved = old.interval_ms !== m.interval_ms || old.agent_id !== m.agent_id;
      if (moved) dropWaiting(m.monitor_id);
      const due = moved || cur.due === Infinity ? nextSlot(m.monitor_id, m.interval_ms, now) : cur.due;
      if (cur.due === Infinity && !moved) {
        // Still waiting for a window: refresh what the waiting job will carry.
        for (const q of waiting.values()) for (const w of q) if (w.m.monitor_id === m.monitor_id) w.m = m;
        heap.set(m.monitor_id, Infinity, m);
      } else heap.set(m.monitor_id, due, m);
    }
    schedule();
  };

  const remove = (monitorId: number): void => {
    const e = heap.remove(monitorId);
    if (e) untrack(monitorId, e.value.device_id);
    dropWaiting(monitorId);
    schedule();
  };

  return {
    async start() {
      const all = await store.loadAll();
      running = true;
      for (const m of all) {
        heap.set(m.monitor_id, nextSlot(m.monitor_id, m.interval_ms, clock.now()), m);
        track(m);
      }
      log.info({ monitors: all.length }, 'scheduler started');
      schedule();
    },
    async stop() {
      running = false;
      if (timer !== undefined) clock.clearTimer(timer);
      if (flushTimer !== undefined) clock.clearTimer(flushTimer);
      timer = flushTimer = undefined;
      await flush();
    },
    upsert,
    remove,
    removeDevice(deviceId) {
      const ids = byDevice.get(deviceId);
      if (!ids) return;
      for (const id of [...ids]) remove(id);
    },
    async refreshMonitor(monitorId) {
      const m = await store.loadMonitor(monitorId);
      if (m) upsert(m);
      else remove(monitorId);
    },
    async refreshDevice(deviceId) {
      const ms = await store.loadDevice(deviceId);
      const keep = new Set(ms.map((m) => m.monitor_id));
      for (const id of [...(byDevice.get(deviceId) ?? [])]) if (!keep.has(id)) remove(id);
      for (const m of ms) upsert(m);
    },
    complete(jobIds) {
      for (const id of jobIds) {
        if (!inFlight.delete(id)) continue;
        const key = expiryKey.get(id);
        expiryKey.delete(id);
        if (key !== undefined) expiry.remove(key);
      }
    },
    onWindowOpen(agentId) {
      if (running) drainAgent(agentId, clock.now());
    },
    flush,
    stats: () => ({
      scheduled: heap.size,
      inFlight: inFlight.size,
      waiting: waitingIds.size,
      dispatched,
    }),
    nextDue(monitorId) {
      return heap.get(monitorId)?.due;
    },
  };
}
