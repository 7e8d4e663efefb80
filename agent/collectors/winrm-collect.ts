import type { MetricSample } from '../../shared/metrics.ts';
import type { WinrmClient } from '../winrm/index.ts';
import { ClassifiedError, classify } from '../failure.ts';
import type { CollectRequest } from './collector.ts';
import type { WinrmClientCache } from './winrm-client-cache.ts';

/**
 * One attempt over a cached client. The WinRM client takes no AbortSignal, so an abort closes
 * the client (ending its sockets) and evicts it: the next poll authenticates afresh.
 */
export function collectOverWinrm(
  cache: WinrmClientCache,
  req: CollectRequest<unknown>,
  signal: AbortSignal,
  run: (client: WinrmClient) => Promise<MetricSample>,
): Promise<MetricSample> {
  if (signal.aborted)
    return Promise.reject(
      new ClassifiedError('timeout', 'the job deadline passed before collection started', { code: 'deadline' }),
    );
  const lease = cache.acquire(req.target, req.credential);
  return new Promise<MetricSample>((resolve, reject) => {
    const onAbort = (): void => {
      lease.release(true);
      reject(
        new ClassifiedError('timeout', 'the job deadline passed while waiting for the host', { code: 'deadline' }),
      );
    };
    signal.addEventListener('abort', onAbort, { once: true });
    run(lease.client).then(
      (sample) => {
        signal.removeEventListener('abort', onAbort);
        lease.release(false);
        resolve(sample);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        const f = classify(err);
        // A client that could not reach or authenticate is not worth keeping warm.
        lease.release(
          f.failureClass === 'unreachable' ||
            f.failureClass === 'auth' ||
            f.failureClass === 'tls' ||
            f.failureClass === 'timeout',
        );
        reject(f);
      },
    );
  });
}
