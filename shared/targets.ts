/** IPv4 dotted quad → 32-bit number, or undefined. No leading zeros (010 is octal to some tools). */
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
 * Address blocks no discovery may touch: they are not hosts on a site's network, or answering them
 * reaches something else (a cloud's metadata service at 169.254.169.254). Loopback stays allowed.
 */
export const UNSCANNABLE: readonly { cidr: string; from: number; to: number; why: string }[] = [
  { cidr: '0.0.0.0/8', why: '"this network" (RFC 1122), not hosts' },
  { cidr: '169.254.0.0/16', why: 'link-local (RFC 3927), where cloud metadata services answer (169.254.169.254)' },
  { cidr: '224.0.0.0/4', why: 'multicast (RFC 5771)' },
  { cidr: '240.0.0.0/4', why: 'reserved (RFC 1112), and 255.255.255.255 is the broadcast address' },
].map((b) => {
  const [ip, bits] = b.cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const from = ipv4ToInt(ip!)!;
  return { ...b, from, to: from + size - 1 };
});

export type TargetCheck = { ok: true; count: number; ranges: [number, number][] } | { ok: false; reason: string };

function parseItem(item: string): [number, number] | string {
  const slash = item.indexOf('/');
  if (slash >= 0) {
    const base = ipv4ToInt(item.slice(0, slash));
    const bits = item.slice(slash + 1);
    if (base === undefined || !/^\d{1,2}$/.test(bits) || Number(bits) > 32)
      return `'${item}' is not a valid IPv4 CIDR (like 10.0.0.0/24)`;
    const size = 2 ** (32 - Number(bits));
    if (size > MAX_TARGET_ADDRESSES)
      return `'${item}' is larger than a /16 (65,536 addresses), the most one discovery may scan`;
    const network = base - (base % size);
    // Network and broadcast addresses answer no host; /31 and /32 have neither (RFC 3021), as the agent counts.
    return Number(bits) <= 30 ? [network + 1, network + size - 2] : [network, network + size - 1];
  }
  const dash = item.indexOf('-');
  if (dash >= 0) {
    const from = ipv4ToInt(item.slice(0, dash).trim());
    const end = item.slice(dash + 1).trim();
    if (from === undefined) return `'${item}' is not a valid range (like 10.0.0.1-10.0.0.50 or 10.0.0.1-50)`;
    let to: number | undefined;
    if (/^\d{1,3}$/.test(end)) to = Number(end) > 255 ? undefined : from - (from % 256) + Number(end);
    else to = ipv4ToInt(end);
    if (to === undefined) return `'${item}' is not a valid range (like 10.0.0.1-10.0.0.50 or 10.0.0.1-50)`;
    if (to < from) return `'${item}' ends before it starts`;
    return [from, to];
  }
  const n = ipv4ToInt(item);
  return n === undefined ? `'${item}' is not a valid IPv4 address` : [n, n];
}

const dotted = (n: number) => `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

/**
 * Checks a discovery target (CIDR, range `a-b` or `a-lastOctet`, single address, or a comma list
 * of them) with the agent's grammar (agent/discovery/targets.ts), refuses addresses nobody should
 * scan (UNSCANNABLE), and returns the merged ranges (inclusive, as uint32) and their address count.
 */
export function checkTarget(target: string): TargetCheck {
  const parts = target
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (!parts.length)
    return { ok: false, reason: 'must be a CIDR (10.0.0.0/24), a range (10.0.0.1-10.0.0.50) or a comma list' };
  const parsed: [number, number][] = [];
  for (const p of parts) {
    const r = parseItem(p);
    if (typeof r === 'string') return { ok: false, reason: r };
    const bad = UNSCANNABLE.find((b) => r[0] <= b.to && r[1] >= b.from);
    if (bad) {
      const at = Math.max(r[0], bad.from);
      return {
        ok: false,
        reason: `'${p}' includes ${dotted(at)}, in ${bad.cidr}: ${bad.why}; discovery does not scan it`,
      };
    }
    parsed.push(r);
  }
  parsed.sort((a, b) => a[0] - b[0]);
  const ranges: [number, number][] = [];
  for (const r of parsed) {
    const last = ranges[ranges.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else ranges.push([r[0], r[1]]);
  }
  const count = ranges.reduce((n, [a, b]) => n + (b - a + 1), 0);
  if (count > MAX_TARGET_ADDRESSES)
    return {
      ok: false,
      reason: `the target has ${count.toLocaleString('en-US')} addresses, more than ${MAX_TARGET_ADDRESSES.toLocaleString('en-US')} (a /16), the most one discovery may scan`,
    };
  return { ok: true, count, ranges };
}

/** Whether `ip` (dotted quad) lies in `ranges` (as checkTarget returns them). */
export function targetIncludes(ranges: readonly (readonly [number, number])[], ip: string): boolean {
  const n = ipv4ToInt(ip);
  if (n === undefined || ip !== ip.trim()) return false;
  return ranges.some(([a, b]) => n >= a && n <= b);
}
