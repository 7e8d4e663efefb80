import type { FailureClass } from '../../shared/failures.ts';

/** What `nmslite-agent status` and the link's health report show about the runner. */
export interface RunnerHealth {
  in_flight: number;
  queued: number;
  pinging: number;
  completed: number;
  succeeded: number;
  failed: number;
  retries: number;
  /** Jobs whose collector ignored the deadline and whose slot was given back after a grace period. */
  abandoned: number;
  failures_by_class: Partial<Record<FailureClass, number>>;
  /** Time from a job's arrival to its first attempt, over the last LATENESS_WINDOW jobs. */
  lateness_ms: { p50: number; p99: number; max: number };
}

const LATENESS_WINDOW = 2048;

export class HealthCounters {
  completed = 0;
  succeeded = 0;
  failed = 0;
  retries = 0;
  abandoned = 0;
  readonly failuresByClass: Partial<Record<FailureClass, number>> = {};
  private readonly lateness = new Float64Array(LATENESS_WINDOW);
  private latenessCount = 0;

  recordLateness(ms: number): void {
    this.lateness[this.latenessCount % LATENESS_WINDOW] = Math.max(0, ms);
    this.latenessCount++;
  }

  recordFailure(cls: FailureClass): void {
    this.failed++;
    this.completed++;
    this.failuresByClass[cls] = (this.failuresByClass[cls] ?? 0) + 1;
  }

  recordSuccess(): void {
    this.succeeded++;
    this.completed++;
  }

  latenessSummary(): RunnerHealth['lateness_ms'] {
    const n = Math.min(this.latenessCount, LATENESS_WINDOW);
    if (n === 0) return { p50: 0, p99: 0, max: 0 };
    const sorted = Array.from(this.lateness.subarray(0, n)).sort((a, b) => a - b);
    const at = (q: number): number => Math.round(sorted[Math.min(n - 1, Math.floor(q * n))]!);
    return { p50: at(0.5), p99: at(0.99), max: Math.round(sorted[n - 1]!) };
  }
}
