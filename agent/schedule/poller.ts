import type { Failure } from '../../shared/failures.ts';
import type { MetricSample } from '../../shared/metrics.ts';
import type { Assignment, CredentialPayload, SealedCredential } from '../../shared/protocol/index.ts';
import { pollJobId } from '../../shared/schedule.ts';
import type { PollNow, PollResult, SpooledResult } from '../link/client.ts';
import type { JobResult, Runner, RunnerJob } from '../runner/runner.ts';
import type { DuePoll } from './poll-schedule.ts';

/** poll.now requests running at once; more are answered with a failure at once. */
export const MAX_POLLS_NOW = 64;
const NOW_PREFIX = 'now-';

export interface PollerLog {
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

export interface PollerOptions {
  runner: Pick<Runner, 'submit'>;
  /** The sealed credential an assignment refers to (the assignment store). */
  findCredential: (a: Assignment) => SealedCredential | undefined;
  /** Opens a sealed credential (in memory only). */
  openCredential: (sealed: SealedCredential) => Promise<CredentialPayload>;
  /** Resolves once the collectors are loaded (lazily, with the first poll). */
  ready: () => Promise<unknown>;
  /** Server clock minus agent clock (ms). */
  offsetMs: () => number;
  /** Asked before each scheduled poll: false while polling is paused (offline too long). */
  admitPoll: () => boolean;
  /** A scheduled poll's result, to be spooled. Must not throw. */
  spool: (item: SpooledResult) => void;
  /** A poll.now answer, sent straight back (never spooled). */
  reply: (msg: PollResult) => void;
  log: PollerLog;
}

export interface PollerStats {
  /** Scheduled polls whose result is not in yet (at most one per monitor). */
  outstanding: number;
  /** Slots skipped because the monitor's previous poll was still running. */
  skipped_busy: number;
  /** Slots not polled because polling was paused. */
  skipped_paused: number;
  polls_now: number;
}

/**
 * Turns due slots (from the schedule) and poll.now requests (from the link) into runner jobs, and
 * the runner's results into spooled results or poll.result answers. Owns no timing: the schedule
 * says when, the runner runs, the spool stores.
 */
export interface Poller {
  onDue(poll: DuePoll): void;
  pollNow(m: PollNow): void;
  /** The runner's onResult. */
  onResult(r: JobResult): void;
  stats(): PollerStats;
}

export function createPoller(o: PollerOptions): Poller {
  /** Monitors with a scheduled poll queued or running: one at a time each, so a slow host cannot pile up jobs. */
  const busy = new Set<number>();
  const nowRequests = new Map<string, string>();
  let skippedBusy = 0;
  let skippedPaused = 0;

  const spoolFailure = (a: Assignment, slot: number, failure: Failure): void =>
    o.spool({
      job_id: pollJobId(a.monitor_id, slot),
      monitor_id: a.monitor_id,
      time: new Date(slot).toISOString(),
      attempts: 0,
      failure,
    });

  /** The job for one assignment, or the failure that stops it before it runs. */
  async function prepare(
    a: Assignment,
    sealed: SealedCredential | null | undefined,
    job: Omit<RunnerJob, 'target' | 'plugin' | 'credential' | 'monitor_id'>,
  ): Promise<RunnerJob | Failure> {
    let credential: CredentialPayload | null = null;
    if (a.credential) {
      if (!sealed)
        return {
          class: 'internal',
          message: `the server did not send credential profile ${a.credential.profile_id} (version ${a.credential.version}) to this agent`,
          code: 'credential_missing',
        };
      try {
        credential = await o.openCredential(sealed);
      } catch {
        return {
          class: 'internal',
          message: 'the sealed credential could not be opened by this agent',
          code: 'credential_unsealable',
        };
      }
    }
    try {
      await o.ready();
    } catch (err) {
      o.log.error({ err: (err as Error).message }, 'the collectors could not be loaded');
      return {
        class: 'internal',
        message: 'the collectors could not be loaded by this agent',
        code: 'collectors_unavailable',
      };
    }
    return {
      ...job,
      monitor_id: a.monitor_id,
      target: a.target,
      plugin: a.plugin,
      credential,
      ...(a.ping !== undefined ? { ping: a.ping } : {}),
    };
  }

  const reportNow = (
    requestId: string,
    time: string,
    attempts: number,
    r: { metrics: MetricSample } | { failure: Failure },
  ): void => o.reply({ type: 'poll.result', request_id: requestId, time, attempts, ...r });

  return {
    onDue({ assignment: a, slot }) {
      if (!o.admitPoll()) {
        skippedPaused++;
        return;
      }
      if (busy.has(a.monitor_id)) {
        skippedBusy++;
        spoolFailure(a, slot, {
          class: 'timeout',
          message: 'the previous poll of this monitor was still running at this slot',
          code: 'previous_poll_running',
        });
        return;
      }
      busy.add(a.monitor_id);
      const offset = o.offsetMs();
      void prepare(a, a.credential ? o.findCredential(a) : null, {
        job_id: pollJobId(a.monitor_id, slot),
        deadline: slot + a.timeout_ms - offset,
        time: new Date(slot).toISOString(),
        due: slot - offset,
      }).then((job) => {
        if ('class' in job) {
          busy.delete(a.monitor_id);
          spoolFailure(a, slot, job);
        } else o.runner.submit([job]);
      });
    },

    pollNow(m) {
      const time = new Date(Date.now() + o.offsetMs()).toISOString();
      const jobId = `${NOW_PREFIX}${m.request_id}`;
      if (nowRequests.has(jobId)) return;
      if (nowRequests.size >= MAX_POLLS_NOW) {
        reportNow(m.request_id, time, 0, {
          failure: {
            class: 'internal',
            message: `this agent is already running ${nowRequests.size} on-demand polls; try again shortly`,
            code: 'busy',
          },
        });
        return;
      }
      nowRequests.set(jobId, m.request_id);
      void prepare(m.assignment, m.credential, {
        job_id: jobId,
        deadline: Date.now() + m.assignment.timeout_ms,
        time,
      }).then((job) => {
        if ('class' in job) {
          nowRequests.delete(jobId);
          reportNow(m.request_id, time, 0, { failure: job });
        } else o.runner.submit([job]);
      });
    },

    onResult(r) {
      const requestId = nowRequests.get(r.job_id);
      if (requestId !== undefined) {
        nowRequests.delete(r.job_id);
        reportNow(requestId, r.time, r.attempts, 'metrics' in r ? { metrics: r.metrics } : { failure: r.failure });
        return;
      }
      const monitorId = Number(r.monitor_id);
      busy.delete(monitorId);
      const base = { job_id: r.job_id, monitor_id: monitorId, time: r.time, attempts: r.attempts };
      o.spool('metrics' in r ? { ...base, metrics: r.metrics } : { ...base, failure: r.failure });
    },

    stats: () => ({
      outstanding: busy.size,
      skipped_busy: skippedBusy,
      skipped_paused: skippedPaused,
      polls_now: nowRequests.size,
    }),
  };
}
