export interface LoginThrottleOptions {
  /** Failed logins per address within `windowMs`, and per username before its first lockout. */
  maxFailures: number;
  windowMs: number;
  /** A username's first lockout; each further failure doubles it, up to `lockoutMaxMs`. */
  lockoutBaseMs: number;
  lockoutMaxMs: number;
  /** A username's failures are forgotten after this long without one (default 24 h). */
  forgetMs?: number;
  /** Usernames whose record is never evicted to make room (the real admin account). */
  protect?: readonly string[];
  maxAddresses?: number;
  maxUsernames?: number;
  now?: () => number;
}

interface UserRecord {
  failures: number;
  last: number;
  lockedUntil: number;
}

/**
 * Failed logins per client address in a sliding window, and per username with exponential
 * lockout. The username's record does not depend on the address, so spreading tries over many
 * addresses gains nothing; a success clears only its own address's record and the username's.
 * Both maps are bounded: the oldest entry goes first, never a protected username's.
 */
export function createLoginThrottle(o: LoginThrottleOptions) {
  const now = o.now ?? Date.now;
  const forgetMs = o.forgetMs ?? 24 * 3600_000;
  const maxAddresses = o.maxAddresses ?? 100_000;
  const maxUsernames = o.maxUsernames ?? 10_000;
  const protectedNames = new Set(o.protect ?? []);
  const byAddress = new Map<string, number[]>();
  const byUser = new Map<string, UserRecord>();

  const recent = (ip: string): number[] => {
    const cutoff = now() - o.windowMs;
    const list = (byAddress.get(ip) ?? []).filter((t) => t > cutoff);
    if (list.length) byAddress.set(ip, list);
    else byAddress.delete(ip);
    return list;
  };
  const userRecord = (username: string): UserRecord | undefined => {
    const r = byUser.get(username);
    if (r && now() - r.last > forgetMs) {
      byUser.delete(username);
      return undefined;
    }
    return r;
  };
  const evictUser = (): void => {
    for (const name of byUser.keys()) {
      if (protectedNames.has(name)) continue;
      byUser.delete(name);
      return;
    }
  };

  return {
    /** Seconds to wait, or 0 when this address may try this username. */
    retryAfter(ip: string, username: string): number {
      const list = recent(ip);
      const t = now();
      const addressWait = list.length < o.maxFailures ? 0 : list[0]! + o.windowMs - t;
      const userWait = (userRecord(username)?.lockedUntil ?? 0) - t;
      const wait = Math.max(addressWait, userWait);
      return wait > 0 ? Math.max(1, Math.ceil(wait / 1000)) : 0;
    },
    fail(ip: string, username: string): void {
      const t = now();
      const list = recent(ip);
      list.push(t);
      byAddress.delete(ip);
      byAddress.set(ip, list);
      if (byAddress.size > maxAddresses) byAddress.delete(byAddress.keys().next().value!);

      const r = userRecord(username) ?? { failures: 0, last: t, lockedUntil: 0 };
      r.failures++;
      r.last = t;
      if (r.failures >= o.maxFailures)
        r.lockedUntil = t + Math.min(o.lockoutMaxMs, o.lockoutBaseMs * 2 ** Math.min(30, r.failures - o.maxFailures));
      byUser.delete(username);
      byUser.set(username, r);
      if (byUser.size > maxUsernames) evictUser();
    },
    succeed(ip: string, username: string): void {
      byAddress.delete(ip);
      byUser.delete(username);
    },
  };
}
export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
