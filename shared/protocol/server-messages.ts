import { z } from 'zod';
import { DiscoveryJob, PollJob } from './jobs.ts';

export const Welcome = z.object({
  type: z.literal('welcome'),
  agent_id: z.number().int().positive(),
  protocol: z.number().int(),
  /** Server clock (epoch ms) when sent; with the hello's round trip it gives the clock offset. */
  server_time: z.number(),
  echo: z.number(),
  heartbeat_ms: z.number().int().min(100),
  /** Highest result seq the server has stored for this agent (informational). */
  last_seq: z.number().int().nullable().optional(),
});

export const ServerHeartbeat = z.object({ type: z.literal('heartbeat'), sent_at: z.number() });

export const ServerHeartbeatAck = z.object({ type: z.literal('heartbeat.ack'), echo: z.number(), server_time: z.number() });

export const JobsDispatch = z.object({ type: z.literal('jobs.dispatch'), jobs: z.array(PollJob).min(1).max(10000) });

export const JobsCancel = z.object({ type: z.literal('jobs.cancel'), job_ids: z.array(z.string().max(100)).max(10000) });

/** Sent only after the transaction storing these results committed. */
export const ResultsAck = z.object({ type: z.literal('results.ack'), seqs: z.array(z.number().int().nonnegative()).max(10000) });

export const DiscoveryStart = z.object({ type: z.literal('discovery.start'), job: DiscoveryJob });

export const DiscoveryCancel = z.object({ type: z.literal('discovery.cancel'), run_id: z.string().max(100) });

export const CredentialsInvalidate = z.object({ type: z.literal('credentials.invalidate'), profile_id: z.number().int().positive() });

export const ServerMessage = z.discriminatedUnion('type', [
  Welcome,
  ServerHeartbeat,
  ServerHeartbeatAck,
  JobsDispatch,
  JobsCancel,
  ResultsAck,
  DiscoveryStart,
  DiscoveryCancel,
  CredentialsInvalidate,
]);
export type ServerMessage = z.infer<typeof ServerMessage>;
