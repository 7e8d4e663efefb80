import { z } from 'zod';
import { Failure } from '../failures.ts';
import { MetricSampleWire } from '../metrics.ts';
import { DiscoveredHost } from './jobs.ts';

export const AgentHealth = z.object({
  spool_backlog: z.number().int().nonnegative(),
  spool_bytes: z.number().int().nonnegative().optional(),
  jobs_in_flight: z.number().int().nonnegative(),
  jobs_queued: z.number().int().nonnegative().optional(),
  /** Worst delay between a job's arrival and its first attempt, since the last heartbeat. */
  job_lateness_ms: z.number().nonnegative(),
  /** Failures by class since the agent started. */
  errors: z.record(z.string(), z.number().int().nonnegative()),
  rss_bytes: z.number().int().nonnegative().optional(),
});
export type AgentHealth = z.infer<typeof AgentHealth>;

/** First message on a socket; nothing else is accepted before it. */
export const Hello = z.object({
  type: z.literal('hello'),
  protocol: z.number().int(),
  /** Short-lived EdDSA JWT signed with the agent's enrolled Ed25519 key (sub = agent id). */
  token: z.string().min(1).max(4096),
  agent_version: z.string().max(50),
  hostname: z.string().max(255),
  /** Flow control: the server never has more of this agent's jobs in flight. */
  max_in_flight: z.number().int().min(1).max(100000),
  sent_at: z.number(),
});

export const Heartbeat = z.object({ type: z.literal('heartbeat'), sent_at: z.number(), health: AgentHealth });

export const HeartbeatAck = z.object({ type: z.literal('heartbeat.ack'), echo: z.number(), agent_time: z.number() });

const ResultBase = z.object({
  seq: z.number().int().nonnegative(),
  job_id: z.string().max(100),
  monitor_id: z.number().int().positive(),
  /** ISO 8601, already corrected to the server's clock by the agent's measured offset. */
  time: z.string().datetime({ offset: true }),
  attempts: z.number().int().min(0).max(10).optional(),
});
export const ResultItem = z.union([ResultBase.extend({ metrics: MetricSampleWire }), ResultBase.extend({ failure: Failure })]);
export type ResultItem = z.infer<typeof ResultItem>;

export const ResultsBatch = z.object({ type: z.literal('results.batch'), results: z.array(ResultItem).min(1).max(5000) });

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

export const AgentMessage = z.discriminatedUnion('type', [Hello, Heartbeat, HeartbeatAck, ResultsBatch, DiscoveryProgress, DiscoveryResult]);
export type AgentMessage = z.infer<typeof AgentMessage>;
