import { z } from 'zod';
import type { Failure, FailureClass } from '../../shared/failures.ts';
import type { MetricSample } from '../../shared/metrics.ts';

/** Where to collect from: the device's address as the server knows it. */
export const CollectTarget = z.object({
  ip: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  use_ssl: z.boolean(),
});
export type CollectTarget = z.infer<typeof CollectTarget>;

/**
 * The decrypted credential a job carries. Held in memory only; never logged, never put on a
 * command line or in an environment variable.
 */
export const CollectCredential = z
  .object({
    type: z.enum(['winrm_basic', 'winrm_ntlm']),
    username: z.string().min(1),
    password: z.string(),
    domain: z.string().nullish(),
    /** TLS verification for use_ssl targets: verify against CAs, pin a SHA-256 fingerprint, or skip. */
    tls_verify: z.enum(['verify', 'pin', 'insecure']).nullish(),
    tls_fingerprint: z.string().nullish(),
    tls_ca: z.string().nullish(),
  })
  .passthrough();
export type CollectCredential = z.infer<typeof CollectCredential>;

/** What a collector gets for one attempt. `config` has been through the collector's validateConfig. */
export interface CollectRequest<C = unknown> {
  job_id: string;
  monitor_id: number | string;
  /** Epoch milliseconds: the collector must have settled by then (the signal fires at it). */
  deadline: number;
  target: CollectTarget;
  credential: CollectCredential | null;
  config: C;
}

/**
 * A metric source. Registered once in registry.ts; the runner calls `validateConfig` then
 * `collect` for every attempt, possibly concurrently for different targets. A failing target
 * is reported by throwing a CollectFailure (data, not a crash). `close` releases cached
 * connections when the agent stops.
 */
export interface Collector<C = unknown> {
  readonly name: string;
  /** Throws CollectFailure('plugin_error') with a readable message when the config is wrong. */
  validateConfig(config: unknown): C;
  collect(req: CollectRequest<C>, signal: AbortSignal): Promise<MetricSample>;
  close?(): void;
}

/** A classified collection failure. `retryable: false` stops the runner retrying (bad password, bad config). */
export class CollectFailure extends Error {
  readonly failureClass: FailureClass;
  readonly code: string | undefined;
  readonly retryable: boolean;

  constructor(
    failureClass: FailureClass,
    message: string,
    o: { code?: string; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, o.cause === undefined ? undefined : { cause: o.cause });
    this.name = 'CollectFailure';
    this.failureClass = failureClass;
    this.code = o.code;
    this.retryable = o.retryable ?? !NEVER_RETRY.has(failureClass);
  }

  toFailure(): Failure {
    const f: Failure = { class: this.failureClass, message: this.message.slice(0, 2000) || this.failureClass };
    if (this.code !== undefined) f.code = this.code.slice(0, 100);
    return f;
  }
}

/** Retrying these only locks accounts or repeats a certain answer. */
const NEVER_RETRY: ReadonlySet<FailureClass> = new Set(['auth', 'access_denied', 'tls']);

/** Anything carrying a failure class (CollectFailure, the WinRM client's errors) keeps it; the rest is `internal`. */
export function toCollectFailure(err: unknown): CollectFailure {
  if (err instanceof CollectFailure) return err;
  if (err instanceof Error && 'failureClass' in err && typeof err.failureClass === 'string') {
    const code = 'code' in err && typeof err.code === 'string' ? err.code : undefined;
    const cls = err.failureClass as FailureClass;
    return new CollectFailure(cls, err.message, code === undefined ? { cause: err } : { code, cause: err });
  }
  if (err instanceof Error && err.name === 'AbortError')
    return new CollectFailure('timeout', 'the job deadline passed during collection', { cause: err });
  return new CollectFailure('internal', 'internal error in the collector', { cause: err });
}

/** First zod issue as `path: message`, for config errors a plugin author can act on. */
export function describeZodError(error: z.ZodError): string {
  const first = error.issues[0];
  if (!first) return 'invalid';
  return first.path.length ? `${first.path.join('.')}: ${first.message}` : first.message;
}
