import type { MetricSample } from '../../shared/metrics.ts';
import type { Failure, FailureClass } from '../../shared/failures.ts';

/**
 * One poll outcome as the writer takes it: a sample, or a classified failure. The hub maps
 * results.batch items to these; the scheduler makes `timeout` failures from expired jobs.
 * `time` is when the collection started (the metrics row key together with monitor_id).
 */
export type PollResult =
  | { monitor_id: number; time: Date; agent_seq?: number | null; ok: true; sample: MetricSample }
  | { monitor_id: number; time: Date; agent_seq?: number | null; ok: false; failure: Failure };

/** What a committed batch did, per result whose monitor still exists; fed to health and caches. */
export interface WriteOutcome {
  monitor_id: number;
  device_id: number;
  time: Date;
  ok: boolean;
  failure_class?: FailureClass;
}
