import { setTimeout as sleep } from 'node:timers/promises';
import type { Failure } from '../../shared/failures.ts';
import type { MetricSample } from '../../shared/metrics.ts';
import type { CredentialPayload, PollTarget } from '../../shared/protocol/index.ts';
import type { Collector } from '../collectors/collector.ts';
import { ClassifiedError, classify } from '../failure.ts';
import type { CollectorRegistry } from '../collectors/registry.ts';
import { createKeyedQueue } from './keyed-queue.ts';
import { HealthCounters, type RunnerHealth } from './runner-health.ts';

/** A poll job as the link hands it over (already validated against the protocol schema). */
export interface RunnerJob {
  job_id: string;
  /** The assignment's monitor (0 for a collection that is not a monitor's). */
  monitor_id: number;
  /** Epoch milliseconds or an ISO 8601 timestamp. */
  deadline: number | string;
  target: PollTarget;
  plugin: { type: string; config?: unknown };
  credential: CredentialPayload | null;
  /** Ping the host first (when the runner has a pinger); default true. */
  ping?: boolean;
  /**
   * The time the result is stamped with (ISO 8601): a scheduled poll's slot, so every retry and
   * replay of it carries the same (monitor_id, time). Without it, the collection start (agent clock).
   */
  time?: string;
  /** Agent-clock epoch ms the job was due; lateness is measured from it (default: its arrival). */
  due?: number;
}

/** One result per job; the caller (link/spool) adds its sequence number. `time` is ISO 8601. */
export type JobResult =
  | { job_id: string; monitor_id: number; time: string; attempts: number; metrics: MetricSample }
  | { job_id: string; monitor_id: number; time: string; attempts: number; failure: Failure };

export interface JobResultInfo {
  attempts: number;
  /** From when the job was due (or arrived) to its first attempt. */
  waitedMs: number;
}

export interface RunnerOptions {
  registry: Pick<CollectorRegistry, 'find'>;
  /** Jobs running at once on this agent. */
  maxConcurrent: number;
  /** Jobs running at once against one host (ip:port); WinRM hosts cap concurrent operations per user. */
  perTargetConcurrent: number;
  /** First retry waits this long, the second twice as long (plus up to 20 % jitter). */
  retryBackoffMs: number;
  /** Called exactly once per accepted job. Must not throw. */
  onResult: (result: JobResult, info: JobResultInfo) => void;
  /** Batch reachability check (e.g. fping); when given, hosts are pinged before they are polled. */
  ping?: (ips: string[]) => Promise<Set<string>>;
  /** Jobs arriving within one tick share one ping batch. */
  pingTickMs?: number;
  /** How long after its deadline a collector that ignores its abort signal may keep a slot. */
  abandonAfterMs?: number;
}

export interface Runner {
  /** Accepts jobs; a job id already queued or running is ignored (the same poll submitted twice). */
  submit(jobs: RunnerJob[]): void;
  health(): RunnerHealth;
  /** Aborts running jobs (they report class `internal`, code `agent_stopping`), drops queued ones, resolves when slots are free. */
  stop(): Promise<{ dropped: number }>;
}

interface Pending {
  job: RunnerJob;
  deadline: number;
  arrived: number;
}

const MAX_ATTEMPTS = 3;

function deadlineMs(d: number | string): number {
  const n = typeof d === 'number' ? d : Date.parse(d);
  return Number.isFinite(n) ? n : 0;
}

function timeoutFailure(attempts: number, last: ClassifiedError | undefined): ClassifiedError {
  const tail = last && last.failureClass !== 'timeout' ? `; last error (${last.failureClass}): ${last.message}` : '';
  const msg =
    attempts === 0
      ? 'the job deadline passed before collection could start'
      : `the job deadline passed after ${attempts} attempt${attempts > 1 ? 's' : ''}${tail}`;
  return new ClassifiedError('timeout', msg.slice(0, 2000), { code: 'deadline' });
}

export function createRunner(o: RunnerOptions): Runner {
  if (!(o.maxConcurrent >= 1) || !(o.perTargetConcurrent >= 1))
    throw new RangeError('runner concurrency limits must be at least 1');
  const abandonAfterMs = o.abandonAfterMs ?? 5000;
  const pingTickMs = o.pingTickMs ?? 50;
  const queue = createKeyedQueue<Pending>(o.perTargetConcurrent);
  const counters = new HealthCounters();
  const active = new Set<string>();
  const running = new Map<string, AbortController>();
  const settling = new Set<Promise<void>>();
  let pingBatch: Pending[] = [];
  let pingTimer: NodeJS.Timeout | undefined;
  let pinging = 0;
  let stopped = false;

  const report = (
    p: Pending,
    outcome: { metrics: MetricSample; time: number } | { failure: ClassifiedError },
    info: JobResultInfo,
  ): void => {
    active.delete(p.job.job_id);
    const base = { job_id: p.job.job_id, monitor_id: p.job.monitor_id, attempts: info.attempts };
    if ('metrics' in outcome) {
      counters.recordSuccess();
      o.onResult({ ...base, time: p.job.time ?? new Date(outcome.time).toISOString(), metrics: outcome.metrics }, info);
    } else {
      counters.recordFailure(outcome.failure.failureClass);
      o.onResult({ ...base, time: p.job.time ?? new Date().toISOString(), failure: outcome.failure.toFailure() }, info);
    }
  };

  // A job cut short by stop() did not time out: it is not the host's failure (class internal is
  // not counted against the device), and the poll never finished.
  const abortFailure = (attempts: number, last: ClassifiedError | undefined): ClassifiedError =>
    stopped
      ? new ClassifiedError('internal', 'the agent stopped before this poll finished', { code: 'agent_stopping' })
      : timeoutFailure(attempts, last);

  const pump = (): void => {
    while (!stopped && running.size < o.maxConcurrent) {
      const next = queue.next();
      if (!next) return;
      const ac = new AbortController();
      running.set(next.item.job.job_id, ac);
      // execute only rejects if onResult broke its no-throw contract; the slot must still come back.
      const done = execute(next.item, ac)
        .catch(() => undefined)
        .finally(() => {
          running.delete(next.item.job.job_id);
          settling.delete(done);
          queue.done(next.key);
          pump();
        });
      settling.add(done);
    }
  };

  const enqueue = (p: Pending): void => {
    queue.push(`${p.job.target.ip}:${p.job.target.port}`, p);
    pump();
  };

  async function execute(p: Pending, ac: AbortController): Promise<void> {
    const waitedMs = Date.now() - (p.job.due ?? p.arrived);
    counters.recordLateness(waitedMs);
    let attempts = 0;
    const outstanding: Promise<unknown>[] = [];
    const left = p.deadline - Date.now();
    if (left <= 0) return report(p, { failure: timeoutFailure(0, undefined) }, { attempts, waitedMs });
    const deadlineTimer = setTimeout(() => ac.abort(), left);
    try {
      const collector: Collector | undefined = o.registry.find(p.job.plugin.type);
      if (!collector) {
        const f = new ClassifiedError(
          'plugin_error',
          `this agent has no collector for plugin type '${p.job.plugin.type}'`,
          { code: 'unknown_plugin' },
        );
        return report(p, { failure: f }, { attempts, waitedMs });
      }
      let config: unknown;
      try {
        config = collector.validateConfig(p.job.plugin.config ?? {});
      } catch (err) {
        return report(p, { failure: classify(err) }, { attempts, waitedMs });
      }
      let last: ClassifiedError | undefined;
      while (attempts < MAX_ATTEMPTS) {
        if (ac.signal.aborted) return report(p, { failure: abortFailure(attempts, last) }, { attempts, waitedMs });
        attempts++;
        const started = Date.now();
        try {
          const metrics = await attempt(collector, config, p, ac.signal, outstanding);
          return report(p, { metrics, time: started }, { attempts, waitedMs });
        } catch (err) {
          // What a collector throws once aborted is about the abort; keep the error that led here.
          if (!ac.signal.aborted) last = classify(err);
        }
        if (ac.signal.aborted) return report(p, { failure: abortFailure(attempts, last) }, { attempts, waitedMs });
        if (!last?.retryable || attempts >= MAX_ATTEMPTS) break;
        const backoff = o.retryBackoffMs * 2 ** (attempts - 1) * (1 + Math.random() * 0.2);
        // A retry that cannot start before the deadline would only turn a real error into `timeout`.
        if (Date.now() + backoff >= p.deadline) break;
        counters.retries++;
        try {
          await sleep(backoff, undefined, { signal: ac.signal });
        } catch {
          break;
        }
      }
      return report(p, { failure: last ?? abortFailure(attempts, undefined) }, { attempts, waitedMs });
    } finally {
      clearTimeout(deadlineTimer);
      await waitForCollectors(p, outstanding);
    }
  }

  /** One collect call, bounded by the deadline even if the collector ignores its signal. */
  async function attempt(
    collector: Collector,
    config: unknown,
    p: Pending,
    signal: AbortSignal,
    outstanding: Promise<unknown>[],
  ): Promise<MetricSample> {
    const work = collector.collect(
      {
        job_id: p.job.job_id,
        monitor_id: p.job.monitor_id,
        deadline: p.deadline,
        target: p.job.target,
        credential: p.job.credential,
        config,
      },
      signal,
    );
    outstanding.push(work.catch(() => undefined));
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () =>
        setTimeout(
          () =>
            reject(new ClassifiedError('timeout', 'the collector did not stop at the deadline', { code: 'deadline' })),
          100,
        );
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => undefined);
    try {
      return await Promise.race([work, aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort!);
    }
  }

  /** The slot stays taken until the collector really lets go, within reason. */
  async function waitForCollectors(p: Pending, outstanding: Promise<unknown>[]): Promise<void> {
    if (outstanding.length === 0) return;
    const ac = new AbortController();
    const grace = sleep(Math.max(0, p.deadline + abandonAfterMs - Date.now()), false, { signal: ac.signal }).catch(
      () => false,
    );
    const settled = await Promise.race([Promise.all(outstanding).then(() => true), grace]);
    ac.abort();
    if (!settled) counters.abandoned++;
  }

  const flushPings = async (): Promise<void> => {
    pingTimer = undefined;
    const batch = pingBatch;
    pingBatch = [];
    pinging += batch.length;
    let reachable: Set<string>;
    try {
      reachable = await o.ping!([...new Set(batch.map((p) => p.job.target.ip))]);
    } catch {
      // A broken ping tool must not stop polling: fall through to the collectors.
      reachable = new Set(batch.map((p) => p.job.target.ip));
    }
    pinging -= batch.length;
    for (const p of batch) {
      if (stopped) continue;
      if (reachable.has(p.job.target.ip)) enqueue(p);
      else
        report(
          p,
          { failure: new ClassifiedError('ping', `${p.job.target.ip} did not answer ping`, { code: 'no_echo_reply' }) },
          { attempts: 0, waitedMs: Date.now() - (p.job.due ?? p.arrived) },
        );
    }
  };

  return {
    submit(jobs) {
      if (stopped) return;
      const now = Date.now();
      for (const job of jobs) {
        if (active.has(job.job_id)) continue;
        active.add(job.job_id);
        const p: Pending = { job, deadline: deadlineMs(job.deadline), arrived: now };
        if (o.ping && job.ping !== false) {
          pingBatch.push(p);
          pingTimer ??= setTimeout(() => void flushPings(), pingTickMs);
        } else {
          enqueue(p);
        }
      }
    },
    health() {
      return {
        in_flight: running.size,
        queued: queue.waiting,
        pinging: pinging + pingBatch.length,
        completed: counters.completed,
        succeeded: counters.succeeded,
        failed: counters.failed,
        retries: counters.retries,
        abandoned: counters.abandoned,
        failures_by_class: { ...counters.failuresByClass },
        lateness_ms: counters.latenessSummary(),
      };
    },
    async stop() {
      stopped = true;
      clearTimeout(pingTimer);
      const drained = [...queue.drain(), ...pingBatch];
      for (const p of drained) active.delete(p.job.job_id);
      const dropped = drained.length;
      pingBatch = [];
      for (const ac of running.values()) ac.abort();
      await Promise.allSettled([...settling]);
      return { dropped };
    },
  };
}
