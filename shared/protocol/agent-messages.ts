import { z } from 'zod';
import { Failure } from '../failures.ts';
import { MetricSampleWire } from '../metrics.ts';
import { DiscoveredHost } from './jobs.ts';

/** Most lost ranges an agent reports (the oldest are merged away first). */
export const MAX_LOST_RANGES = 1000;

/** Results of one monitor evicted from a full spool: every scheduled poll from `from` to `to` (inclusive). */
export const LostRange = z.object({
  monitor_id: z.number().int().positive(),
  from: z.string().datetime({ offset: true }),
  to: z.string().datetime({ offset: true }),
  count: z.number().int().positive(),
});
export type LostRange = z.infer<typeof LostRange>;

/** Most counters in AgentHealth.errors: the failure classes, the agent's own few (spool_dropped) and room for newer ones. */
export const MAX_HEALTH_ERROR_KEYS = 32;
const HEALTH_ERROR_KEY = /^[a-z][a-z0-9_]{0,39}$/;

/** Failures by class: bounded keys (snake_case, at most 40 characters, at most MAX_HEALTH_ERROR_KEYS of them) and counts. */
export const HealthErrors = z
  .record(
    z.string().regex(HEALTH_ERROR_KEY, 'must be a snake_case name of at most 40 characters'),
    z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  )
  .refine((o) => Object.keys(o).length <= MAX_HEALTH_ERROR_KEYS, `at most ${MAX_HEALTH_ERROR_KEYS} counters`);

/** What an agent reports as `errors`: only counters the schema accepts, the first MAX_HEALTH_ERROR_KEYS of them. */
export function boundHealthErrors(counts: Record<string, number | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  let n = 0;
  for (const [k, v] of Object.entries(counts)) {
    if (n >= MAX_HEALTH_ERROR_KEYS) break;
    if (!HEALTH_ERROR_KEY.test(k) || typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) continue;
    out[k] = v;
    n++;
  }
  return out;
}

export const AgentHealth = z.object({
  spool_backlog: z.number().int().nonnegative(),
  spool_bytes: z.number().int().nonnegative().optional(),
  jobs_in_flight: z.number().int().nonnegative(),
  jobs_queued: z.number().int().nonnegative().optional(),
  /** Worst delay between a job's arrival and its first attempt, since the last heartbeat. */
  job_lateness_ms: z.number().nonnegative(),
  /** Failures by class since the agent started. */
  errors: HealthErrors,
  rss_bytes: z.number().int().nonnegative().optional(),
  /** The schedule this agent runs (revision null: none received yet). */
  schedule_revision: z.number().int().nonnegative().nullable().optional(),
  monitors_assigned: z.number().int().nonnegative().optional(),
  /** Epoch ms (server clock) since when the link has been down; null while connected. */
  offline_since: z.number().nullable().optional(),
  /** Polls run while the link was down, since the agent started (persisted across restarts). */
  polls_offline: z.number().int().nonnegative().optional(),
  /** Polling stopped: offline for longer than max_offline_hours. */
  polling_paused: z.boolean().optional(),
  /** Age in ms of the oldest unacknowledged spooled result; null when the spool is empty. */
  spool_oldest_age_ms: z.number().nonnegative().nullable().optional(),
  /** Results evicted (oldest first) because the spool reached its cap: per monitor, exact time ranges. */
  spool_evicted: z
    .object({
      records: z.number().int().nonnegative(),
      ranges: z.array(LostRange).max(MAX_LOST_RANGES),
      /** Ranges left out of `ranges` (over the cap): counted, not listed. */
      ranges_omitted: z.number().int().nonnegative().optional(),
    })
    .optional(),
});
export type AgentHealth = z.infer<typeof AgentHealth>;

/** First message on a socket; nothing else is accepted before it. */
export const Hello = z.object({
  type: z.literal('hello'),
  protocol: z.number().int(),
  /** EdDSA JWT signed with the agent's enrolled Ed25519 key: sub = agent id, aud nmslite-agent-hub, nonce = the challenge's. */
  token: z.string().min(1).max(4096),
  agent_version: z.string().max(50),
  hostname: z.string().max(255),
  /** Deprecated, ignored: flow control for server-dispatched jobs, which protocol 2 replaced by the agent's own schedule. Optional so agents may stop sending it. */
  max_in_flight: z.number().int().min(1).max(100000).optional(),
  sent_at: z.number(),
  /** The schedule revision the agent holds (persisted), null if none. The server sends the full set anyway. */
  schedule_revision: z.number().int().nonnegative().nullable().optional(),
});

export const Heartbeat = z.object({ type: z.literal('heartbeat'), sent_at: z.number(), health: AgentHealth });

export const HeartbeatAck = z.object({ type: z.literal('heartbeat.ack'), echo: z.number(), agent_time: z.number() });

const ResultBase = z.object({
  seq: z.number().int().nonnegative(),
  job_id: z.string().max(100),
  monitor_id: z.number().int().positive(),
  /** The poll's scheduled slot (ISO 8601, server clock): the same on every retry and replay. */
  time: z.string().datetime({ offset: true }),
  attempts: z.number().int().min(0).max(10).optional(),
});
export const ResultItem = z.union([
  ResultBase.extend({ metrics: MetricSampleWire }),
  ResultBase.extend({ failure: Failure }),
]);
export type ResultItem = z.infer<typeof ResultItem>;

export const ResultsBatch = z.object({
  type: z.literal('results.batch'),
  results: z.array(ResultItem).min(1).max(5000),
});

export const DiscoveryProgress = z.object({
  type: z.literal('discovery.progress'),
  run_id: z.string().max(100),
  scanned: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  found: z.number().int().nonnegative(),
});

/** Serialized hosts per discovery.result part: well inside MAX_MESSAGE_BYTES with the envelope. */
export const DISCOVERY_RESULT_PART_BYTES = 3 * 1024 * 1024;

export const DiscoveryResult = z.object({
  type: z.literal('discovery.result'),
  run_id: z.string().max(100),
  scanned: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  devices: z.array(DiscoveredHost).max(65536),
  /** More parts of this result follow (a large result travels in parts that each fit a message). */
  more: z.boolean().optional(),
  cancelled: z.boolean().optional(),
  error: Failure.optional(),
});

/** The agent applied (and persisted) this schedule revision. */
export const ScheduleAck = z.object({ type: z.literal('schedule.ack'), revision: z.number().int().nonnegative() });

/** The agent saw a gap or mismatch (a delta whose base is not its revision): send the full set. */
export const ScheduleResync = z.object({
  type: z.literal('schedule.resync'),
  have: z.number().int().nonnegative().nullable(),
  reason: z.string().max(200),
});

/** The answer to poll.now: what the poll collected, or why it failed. */
const PollResultBase = z.object({
  type: z.literal('poll.result'),
  request_id: z.string().max(100),
  time: z.string().datetime({ offset: true }),
  attempts: z.number().int().min(0).max(10),
});
export const PollResult = z.union([
  PollResultBase.extend({ metrics: MetricSampleWire }),
  PollResultBase.extend({ failure: Failure }),
]);

export const AgentMessage = z.union([
  z.discriminatedUnion('type', [
    Hello,
    Heartbeat,
    HeartbeatAck,
    ResultsBatch,
    DiscoveryProgress,
    DiscoveryResult,
    ScheduleAck,
    ScheduleResync,
  ]),
  PollResult,
]);
export type AgentMessage = z.infer<typeof AgentMessage>;
