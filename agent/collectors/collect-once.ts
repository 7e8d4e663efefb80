import type { Failure } from '../../shared/failures.ts';
import type { MetricSample } from '../../shared/metrics.ts';
import type { CredentialPayload, PollTarget } from '../../shared/protocol/index.ts';
import { ClassifiedError, toFailure } from '../failure.ts';
import type { CollectorRegistry } from './registry.ts';

export interface CollectOnceInput {
  registry: CollectorRegistry;
  plugin: { type: string; config?: unknown };
  target: PollTarget;
  credential: CredentialPayload | null;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export type CollectOnceResult = { ok: true; metrics: MetricSample } | { ok: false; failure: Failure };

/**
 * One collection, no retries: what `nmslite-agent collect HOST` prints, so a site admin sees
 * at once whether the credential and the host's WinRM setup work.
 */
export async function collectOnce(input: CollectOnceInput): Promise<CollectOnceResult> {
  const timeoutMs = input.timeoutMs ?? 30_000;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const onOuterAbort = (): void => ac.abort();
  input.signal?.addEventListener('abort', onOuterAbort, { once: true });
  try {
    const collector = input.registry.find(input.plugin.type);
    if (!collector)
      throw new ClassifiedError(
        'plugin_error',
        `unknown plugin type '${input.plugin.type}' (this agent knows ${input.registry.names.join(', ')})`,
        { code: 'unknown_plugin' },
      );
    const config = collector.validateConfig(input.plugin.config ?? {});
    const metrics = await collector.collect(
      {
        job_id: 'collect-once',
        monitor_id: 0,
        deadline: Date.now() + timeoutMs,
        target: input.target,
        credential: input.credential,
        config,
      },
      ac.signal,
    );
    return { ok: true, metrics };
  } catch (err) {
    return { ok: false, failure: toFailure(err) };
  } finally {
    clearTimeout(timer);
    input.signal?.removeEventListener('abort', onOuterAbort);
  }
}
