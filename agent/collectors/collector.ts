import type { z } from 'zod';
import type { MetricSample } from '../../shared/metrics.ts';
import type { CredentialPayload, PollTarget } from '../../shared/protocol/index.ts';
import { ClassifiedError } from '../failure.ts';

/** What a collector gets for one attempt. `config` has been through the collector's validateConfig. */
export interface CollectRequest<C = unknown> {
  job_id: string;
  /** 0 for a collection that is not a monitor's (`nmslite-agent collect`). */
  monitor_id: number;
  /** Epoch milliseconds: the collector must have settled by then (the signal fires at it). */
  deadline: number;
  target: PollTarget;
  credential: CredentialPayload | null;
  config: C;
}

/**
 * A metric source. Registered once in registry.ts; the runner calls `validateConfig` then
 * `collect` for every attempt, possibly concurrently for different targets. A failing target
 * is reported by throwing a ClassifiedError (agent/failure.ts: data, not a crash). `close` releases cached
 * connections when the agent stops.
 */
export interface Collector<C = unknown> {
  readonly name: string;
  /** Throws ClassifiedError('plugin_error') with a readable message when the config is wrong. */
  validateConfig(config: unknown): C;
  collect(req: CollectRequest<C>, signal: AbortSignal): Promise<MetricSample>;
  close?(): void;
}

/** First zod issue as `path: message`, for config errors a plugin author can act on. */
export function describeZodError(error: z.ZodError): string {
  const first = error.issues[0];
  if (!first) return 'invalid';
  return first.path.length ? `${first.path.join('.')}: ${first.message}` : first.message;
}

/** A collector's validateConfig: the config (absent: {}) parsed by `schema`, or plugin_error bad_config saying what is wrong. */
export function configValidator<S extends z.ZodType>(schema: S, what: string): (config: unknown) => z.output<S> {
  return (config) => {
    const r = schema.safeParse(config ?? {});
    if (!r.success)
      throw new ClassifiedError('plugin_error', `invalid ${what} config: ${describeZodError(r.error)}`, {
        code: 'bad_config',
        retryable: false,
      });
    return r.data;
  };
}
