import { z } from 'zod';
import { Failure } from '../failures.ts';

/** Where a monitor is polled: the device's address as the server knows it. */
export const PollTarget = z.object({
  ip: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65535),
  use_ssl: z.boolean(),
});
export type PollTarget = z.infer<typeof PollTarget>;

/**
 * A credential sealed to the agent's X25519 key (compact JWE, ECDH-ES). The agent caches the
 * decrypted value by (profile_id, version); `credentials.invalidate` drops it.
 */
export const SealedCredential = z.object({
  profile_id: z.number().int().positive(),
  version: z.number().int().nonnegative(),
  sealed: z.string().min(1).max(16384),
});
export type SealedCredential = z.infer<typeof SealedCredential>;

/**
 * What a sealed credential decrypts to, and what the agent's collectors and discovery are handed.
 * Held in memory only; never logged, never put on a command line or in an environment variable.
 * The server always sends every field; the agent's own callers (`nmslite-agent collect`) may leave
 * out the optional ones.
 */
export const CredentialPayload = z
  .object({
    type: z.enum(['winrm_basic', 'winrm_ntlm']),
    username: z.string().min(1).max(256),
    password: z.string().max(1024),
    domain: z.string().max(256).nullish(),
    /** TLS for use_ssl targets: verify against the system CAs (absent: verify), pin a SHA-256 fingerprint, or skip. */
    tls_verify: z.enum(['verify', 'pin', 'insecure']).nullish(),
    tls_fingerprint: z.string().max(200).nullish(),
  })
  .strict();
export type CredentialPayload = z.infer<typeof CredentialPayload>;

/** What one monitor's assignment refers to instead of carrying the JWE (many monitors share a profile). */
export const CredentialRef = z.object({
  profile_id: z.number().int().positive(),
  version: z.number().int().nonnegative(),
});
export type CredentialRef = z.infer<typeof CredentialRef>;

export const PluginSpec = z.object({ type: z.string().min(1).max(100), config: z.unknown().optional() });

/**
 * One monitor as the agent schedules it: the server decides what is polled and how often, the
 * agent runs it on its own clock. The credential travels separately, sealed once per profile.
 */
export const Assignment = z.object({
  monitor_id: z.number().int().positive(),
  target: PollTarget,
  plugin: PluginSpec,
  interval_s: z.number().int().min(1).max(86_400),
  /** A poll's deadline is its scheduled time plus this (never more than the interval). */
  timeout_ms: z.number().int().min(100).max(3_600_000),
  credential: CredentialRef.nullable(),
  ping: z.boolean().optional(),
});
export type Assignment = z.infer<typeof Assignment>;

/** Most assignments and credentials in one schedule message; a larger set travels in parts. */
export const SCHEDULE_PART_ASSIGNMENTS = 10_000;
export const SCHEDULE_MAX_CREDENTIALS = 2_000;

export const DiscoveryJob = z.object({
  run_id: z.string().min(1).max(100),
  target: z.string().min(1).max(20000),
  port_scan: z.boolean(),
  credential: SealedCredential.nullable(),
  /** Port used for the authenticated hostname/OS query. */
  winrm_port: z.number().int().min(1).max(65535).optional(),
  use_ssl: z.boolean().optional(),
  /** The profile's opt-in to send the credential to hosts whose identity is not proven (HTTP, unchecked HTTPS). Absent: false. */
  authenticate_unverified: z.boolean().optional(),
});
export type DiscoveryJob = z.infer<typeof DiscoveryJob>;

/** A Windows host a discovery found, as the agent reports it and the server stores it (one device per agent + ip). */
export const DiscoveredHost = z.object({
  ip: z.string(),
  port: z.number().int(),
  use_ssl: z.boolean(),
  hostname: z.string().nullable(),
  os: z.string().nullable(),
  os_version: z.string().nullable(),
  /** WS-Management stack version from Identify (`Stack: 3.0`). */
  winrm_stack: z.string().nullable().optional(),
  /** Why the authenticated query failed (bad password, account not allowed …); the host is still reported. */
  error: Failure.optional(),
});
export type DiscoveredHost = z.infer<typeof DiscoveredHost>;
