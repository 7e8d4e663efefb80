/**
 * Runs `fn` over `items` with at most `limit` calls in flight, pulling lazily from the iterator
 * (a /16 is never materialised as 65,536 promises). Stops taking new items once `signal` aborts.
 * `fn` must not throw: a failing host is data for the caller to record.
 */
export async function mapLimit<T>(
  items: Iterable<T>,
  limit: number,
  fn: (item: T) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const it = items[Symbol.iterator]();
  const worker = async (): Promise<void> => {
    for (;;) {
      if (signal?.aborted) return;
      const next = it.next();
      if (next.done) return;
      await fn(next.value);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
}

/** A shared cap for work started from several places (hosts from several swept chunks). */
export function createLimiter(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return <T>(fn: () => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const start = (): void => {
        active++;
        fn()
          .then(resolve, reject)
          .finally(() => {
            active--;
            waiting.shift()?.();
          });
      };
      if (active < Math.max(1, limit)) start();
      else waiting.push(start);
    });
}
