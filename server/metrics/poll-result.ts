import type { MetricSample } from '../../shared/metrics.ts';
import type { Failure, FailureClass } from '../../shared/failures.ts';

/**
 * Who produced a result. `agent`: the agent ran (or tried to run) the poll and reported it.
 * `server`: the expectation tracker made it up because no result came (class `agent_offline` or
 * `timeout`); such results only update last_error*, never store a metrics row, never count in
 * consecutive_failures or the health monitor.
 */
export type ResultSource = 'agent' | 'server';

/**
 * One poll outcome as the writer takes it: a sample, or a classified failure. The hub maps
 * results.batch items to these (source `agent`, the default); the expectation tracker makes
 * `agent_offline` / `timeout` failures (source `server`).
 * `time` is the poll's scheduled slot (the metrics row key together with monitor_id).
 * `attempts` is how many attempts the agent made (carried for logs and callers; not stored).
 */
export type PollResult = PollResultCommon & ({ ok: true; sample: MetricSample } | { ok: false; failure: Failure });
interface PollResultCommon {
  monitor_id: number;
  time: Date;
  agent_seq?: number | null;
  source?: ResultSource;
  attempts?: number;
}

/** What a committed batch did, per result whose monitor still exists; fed to health, the tracker and caches. */
export interface WriteOutcome {
  monitor_id: number;
  device_id: number;
  time: Date;
  ok: boolean;
  failure_class?: FailureClass;
  source: ResultSource;
}
