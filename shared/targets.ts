/** IPv4 dotted quad → 32-bit number, or undefined. */
export function ipv4ToInt(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p, i) => p > 255 || (m[i + 1]!.length > 1 && m[i + 1]!.startsWith('0')))) return undefined;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export const isIpv4 = (s: string): boolean => ipv4ToInt(s) !== undefined;

export const MAX_TARGET_ADDRESSES = 65536;

/**
 * Checks a discovery target (CIDR, range `a-b`, or a comma list of addresses, CIDRs and ranges)
 * and counts its addresses. Returns an error sentence or the count.
 */
export function checkTarget(target: string): { ok: true; count: number } | { ok: false; reason: string } {
  const parts = target.split(',').map((p) => p.trim()).filter(Boolean);
  if (!parts.length) return { ok: false, reason: 'must be a CIDR (10.0.0.0/24), a range (10.0.0.1-10.0.0.50) or a comma list' };
  let count = 0;
  for (const p of parts) {
    if (p.includes('/')) {
      const [ip, bits] = p.split('/');
      const base = ipv4ToInt(ip ?? '');
      const n = Number(bits);
      if (base === undefined || !/^\d{1,2}$/.test(bits ?? '') || n > 32) return { ok: false, reason: `'${p}' is not a valid IPv4 CIDR` };
      if (n < 16) return { ok: false, reason: `'${p}' is larger than a /16 (65,536 addresses), the most one discovery may scan` };
      count += n >= 31 ? 2 ** (32 - n) : 2 ** (32 - n) - 2;
    } else if (p.includes('-')) {
      const [a, b] = p.split('-');
      const lo = ipv4ToInt(a ?? '');
      const hi = ipv4ToInt(b ?? '');
      if (lo === undefined || hi === undefined) return { ok: false, reason: `'${p}' is not a valid range (like 10.0.0.1-10.0.0.50)` };
      if (hi < lo) return { ok: false, reason: `'${p}' ends before it starts` };
      count += hi - lo + 1;
    } else if (!isIpv4(p)) {
      return { ok: false, reason: `'${p}' is not a valid IPv4 address` };
    } else count += 1;
    if (count > MAX_TARGET_ADDRESSES) return { ok: false, reason: `the target has more than ${MAX_TARGET_ADDRESSES} addresses (a /16), the most one discovery may scan` };
  }
  return { ok: true, count };
}
