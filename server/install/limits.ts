/** Explicit limits on /install/: requests per address per minute, and binary downloads at once (in total and per address). */
export interface InstallLimitOptions {
  requestsPerMinute: number;
  maxConcurrent: number;
  maxPerAddress: number;
}

/** Addresses remembered per minute window; past it the window starts over (bounded memory under a flood). */
const MAX_TRACKED_ADDRESSES = 10_000;

export function createInstallLimits(o: InstallLimitOptions) {
  let windowStart = Date.now();
  const counts = new Map<string, number>();
  const active = new Map<string, number>();
  let total = 0;
  return {
    /** Counts one request from `ip`; false when it is over requestsPerMinute in the current minute. */
    allowRequest(ip: string): boolean {
      const now = Date.now();
      if (now - windowStart >= 60_000 || counts.size >= MAX_TRACKED_ADDRESSES) {
        counts.clear();
        windowStart = now;
      }
      const n = (counts.get(ip) ?? 0) + 1;
      counts.set(ip, n);
      return n <= o.requestsPerMinute;
    },
    /** Takes a download slot; `release` must be called once when the response ends (idempotent). */
    startDownload(ip: string): { ok: true; release: () => void } | { ok: false; reason: string } {
      const mine = active.get(ip) ?? 0;
      if (total >= o.maxConcurrent)
        return {
          ok: false,
          reason: `${o.maxConcurrent} agent downloads are running (install.max_concurrent_downloads): retry shortly`,
        };
      if (mine >= o.maxPerAddress)
        return {
          ok: false,
          reason: `${o.maxPerAddress} agent downloads from this address are running (install.max_downloads_per_address)`,
        };
      total++;
      active.set(ip, mine + 1);
      let released = false;
      return {
        ok: true,
        release: () => {
          if (released) return;
          released = true;
          total--;
          const left = (active.get(ip) ?? 1) - 1;
          if (left <= 0) active.delete(ip);
          else active.set(ip, left);
        },
      };
    },
  };
}
