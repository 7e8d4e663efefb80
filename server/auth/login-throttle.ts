/**
 * Failed logins per client address in a sliding window; past the limit the address gets 429
 * until the window passes. A successful login clears its record.
 */
export function createLoginThrottle(o: { maxFailures: number; windowMs: number; now?: () => number }) {
  const now = o.now ?? Date.now;
  const failures = new Map<string, number[]>();
  const recent = (ip: string): number[] => {
    const cutoff = now() - o.windowMs;
    const list = (failures.get(ip) ?? []).filter((t) => t > cutoff);
    if (list.length) failures.set(ip, list);
    else failures.delete(ip);
    return list;
  };
  return {
    /** Seconds to wait, or 0 when the address may try. */
    retryAfter(ip: string): number {
      const list = recent(ip);
      if (list.length < o.maxFailures) return 0;
      return Math.max(1, Math.ceil((list[0]! + o.windowMs - now()) / 1000));
    },
    fail(ip: string): void {
      const list = recent(ip);
      list.push(now());
      failures.set(ip, list);
      if (failures.size > 100_000) failures.delete(failures.keys().next().value!);
    },
    succeed(ip: string): void {
      failures.delete(ip);
    },
  };
}
export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
