/**
 * Exponential backoff with full jitter: the delay is uniform in [0, min(cap, base·2^attempt)], so a
 * thousand agents cut off by one server restart come back spread out rather than in one wave.
 * A server's retry-after hint is a floor, with jitter added above it for the same reason.
 */
export function backoffDelay(
  attempt: number,
  o: { baseMs: number; capMs: number; retryAfterMs?: number; random?: () => number },
): number {
  const rnd = o.random ?? Math.random;
  const ceiling = Math.min(o.capMs, o.baseMs * 2 ** Math.min(attempt, 30));
  const jittered = Math.floor(rnd() * ceiling);
  if (o.retryAfterMs !== undefined && o.retryAfterMs > 0)
    return o.retryAfterMs + Math.floor(rnd() * Math.min(o.retryAfterMs, o.capMs));
  return jittered;
}

/** Parses `retry-after=5` out of a close reason, or a Retry-After header value (seconds). */
export function parseRetryAfter(s: string | undefined): number | undefined {
  if (!s) return undefined;
  const m = /(?:retry-after=)?(\d+(?:\.\d+)?)/i.exec(s);
  if (!m) return undefined;
  const secs = Number(m[1]);
  return Number.isFinite(secs) && secs >= 0 && secs <= 3600 ? Math.round(secs * 1000) : undefined;
}
