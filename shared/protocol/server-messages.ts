import { z } from 'zod';
import {
  Assignment,
  DiscoveryJob,
  SCHEDULE_MAX_CREDENTIALS,
  SCHEDULE_PART_ASSIGNMENTS,
  SealedCredential,
} from './jobs.ts';

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

/**
 * The first message on a socket whose agent offered AGENT_SUBPROTOCOL, sent before its hello: the
 * hello's token must carry this `nonce` claim. One per socket, never reused.
 */
export const Challenge = z.object({ type: z.literal('challenge'), nonce: z.string().regex(/^[A-Za-z0-9_-]{22,128}$/) });

export const ServerHeartbeat = z.object({ type: z.literal('heartbeat'), sent_at: z.number() });

export const ServerHeartbeatAck = z.object({
  type: z.literal('heartbeat.ack'),
  echo: z.number(),
  server_time: z.number(),
});

/**
 * The agent's whole assignment set at `revision`, sent on every connect and whenever the agent asks
 * (schedule.resync). A set larger than one part travels in parts with `more: true` on all but the
 * last; the agent applies the set when the last part arrives, replacing what it held.
 */
export const ScheduleFull = z.object({
  type: z.literal('schedule.full'),
  revision: z.number().int().nonnegative(),
  assignments: z.array(Assignment).max(SCHEDULE_PART_ASSIGNMENTS),
  credentials: z.array(SealedCredential).max(SCHEDULE_MAX_CREDENTIALS),
  more: z.boolean(),
});

/**
 * Changes from revision `base` to `revision` (= base + 1). An agent whose revision is not `base`
 * ignores it and asks for the full set. `credentials` holds every sealed credential an upserted
 * assignment refers to that the agent may not have yet.
 */
export const ScheduleDelta = z.object({
  type: z.literal('schedule.delta'),
  base: z.number().int().nonnegative(),
  revision: z.number().int().positive(),
  upsert: z.array(Assignment).max(SCHEDULE_PART_ASSIGNMENTS),
  remove: z.array(z.number().int().positive()).max(100_000),
  credentials: z.array(SealedCredential).max(SCHEDULE_MAX_CREDENTIALS),
});

/** Run one poll now (POST /monitors/:id/poll); answered with poll.result, never spooled or stored. */
export const PollNow = z.object({
  type: z.literal('poll.now'),
  request_id: z.string().min(1).max(100),
  assignment: Assignment,
  credential: SealedCredential.nullable(),
});

/** Sent only after the transaction storing these results committed. */
export const ResultsAck = z.object({
  type: z.literal('results.ack'),
  seqs: z.array(z.number().int().nonnegative()).max(10000),
});

export const DiscoveryStart = z.object({ type: z.literal('discovery.start'), job: DiscoveryJob });

export const DiscoveryCancel = z.object({ type: z.literal('discovery.cancel'), run_id: z.string().max(100) });

export const CredentialsInvalidate = z.object({
  type: z.literal('credentials.invalidate'),
  profile_id: z.number().int().positive(),
});

export const ServerMessage = z.discriminatedUnion('type', [
  Challenge,
  Welcome,
  ServerHeartbeat,
  ServerHeartbeatAck,
  ScheduleFull,
  ScheduleDelta,
  PollNow,
  ResultsAck,
  DiscoveryStart,
  DiscoveryCancel,
  CredentialsInvalidate,
]);
export type ServerMessage = z.infer<typeof ServerMessage>;
