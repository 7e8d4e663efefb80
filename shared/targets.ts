/**
 * Discovery targets, parsed the same way by the server (profiles are checked when saved and when
 * run) and by the agent (which scans them). The grammar, a comma list of:
 *   10.0.0.0/24             CIDR; network and broadcast addresses are left out (not for /31, /32)
 *   10.0.0.1-10.0.0.50      range, inclusive
 *   10.0.0.1-50             short range: the end replaces the last octet
 *   10.0.0.7                one address
 * Overlapping parts are merged, so every address is counted and scanned once. IPv4 only, no
 * leading zeros (010 is octal to some tools). Limits: MAX_TARGET_ADDRESSES addresses in all,
 * MAX_TARGET_LENGTH characters; the blocks in UNSCANNABLE are refused.
 */

/** Most addresses one discovery may scan: a /16. */
export const MAX_TARGET_ADDRESSES = 65_536;
/** Longest target text (the API and the discovery job carry at most this). */
export const MAX_TARGET_LENGTH = 20_000;

/** A target the user wrote that we cannot scan; the message says why, in their terms. */
export class TargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetError';
  }
}

/** A parsed target: disjoint, sorted address ranges (inclusive, as uint32); iterating yields each address once. */
export interface TargetSet extends Iterable<string> {
  readonly count: number;
  readonly ranges: ReadonlyArray<readonly [number, number]>;
}

/** IPv4 dotted quad → 32-bit number, or undefined. No leading zeros, no surrounding space. */
export function ipv4ToInt(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    if (part.length > 1 && part.startsWith('0')) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    n = n * 256 + octet;
  }
  return n;
}

export function intToIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export const isIpv4 = (s: string): boolean => ipv4ToInt(s.trim()) !== undefined;

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
  const from = ipv4ToInt(ip!)!;
  return { ...b, from, to: from + 2 ** (32 - Number(bits)) - 1 };
});

const number = (n: number) => n.toLocaleString('en-US');

function tooLarge(what: string, count: number): TargetError {
  return new TargetError(
    `${what} has ${number(count)} addresses; a discovery may scan at most ${number(MAX_TARGET_ADDRESSES)} (a /16)`,
  );
}

function parseAddress(s: string, item: string): number {
  const n = ipv4ToInt(s);
  if (n !== undefined) return n;
  if (s.includes(':')) throw new TargetError(`'${item}': IPv6 is not supported; use IPv4 addresses`);
  throw new TargetError(`'${item}': '${s}' is not an IPv4 address (expected e.g. 10.0.0.5)`);
}

function parseItem(item: string): [number, number] {
  const slash = item.indexOf('/');
  if (slash >= 0) {
    const base = parseAddress(item.slice(0, slash).trim(), item);
    const bitsText = item.slice(slash + 1).trim();
    if (!/^\d{1,2}$/.test(bitsText) || Number(bitsText) > 32)
      throw new TargetError(`'${item}' is not a valid IPv4 CIDR: the prefix length must be a number from 0 to 32`);
    const bits = Number(bitsText);
    const size = 2 ** (32 - bits);
    if (size > MAX_TARGET_ADDRESSES) throw tooLarge(`'${item}'`, size);
    const network = base - (base % size);
    // Network and broadcast addresses answer no host; /31 and /32 have neither (RFC 3021).
    return bits <= 30 ? [network + 1, network + size - 2] : [network, network + size - 1];
  }
  const dash = item.indexOf('-');
  if (dash >= 0) {
    const from = parseAddress(item.slice(0, dash).trim(), item);
    const toText = item.slice(dash + 1).trim();
    let to: number;
    if (/^\d{1,3}$/.test(toText)) {
      const last = Number(toText);
      if (last > 255 || (toText.length > 1 && toText.startsWith('0')))
        throw new TargetError(`'${item}': '${toText}' is not a valid last octet`);
      to = from - (from % 256) + last;
    } else {
      to = parseAddress(toText, item);
    }
    if (to < from) throw new TargetError(`'${item}': the range ends before it starts`);
    if (to - from + 1 > MAX_TARGET_ADDRESSES) throw tooLarge(`'${item}'`, to - from + 1);
    return [from, to];
  }
  const n = parseAddress(item, item);
  return [n, n];
}

/** Parses a target (grammar above). Throws TargetError, with a message meant for the user, on anything else. */
export function parseTarget(input: string): TargetSet {
  if (typeof input !== 'string') throw new TargetError('the target must be text');
  if (input.length > MAX_TARGET_LENGTH)
    throw new TargetError(
      `the target is ${number(input.length)} characters long; at most ${number(MAX_TARGET_LENGTH)}`,
    );
  const items = input
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0)
    throw new TargetError(
      'the target is empty: give a CIDR (10.0.0.0/24), a range (10.0.0.1-10.0.0.50 or 10.0.0.1-50), an address, or a comma list of them',
    );
  const parsed: [number, number][] = [];
  for (const item of items) {
    const r = parseItem(item);
    const bad = UNSCANNABLE.find((b) => r[0] <= b.to && r[1] >= b.from);
    if (bad)
      throw new TargetError(
        `'${item}' includes ${intToIpv4(Math.max(r[0], bad.from))}, in ${bad.cidr}: ${bad.why}; discovery does not scan it`,
      );
    parsed.push(r);
  }
  parsed.sort((a, b) => a[0] - b[0]);
  const ranges: [number, number][] = [];
  for (const r of parsed) {
    const last = ranges[ranges.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else ranges.push([r[0], r[1]]);
  }
  const count = ranges.reduce((sum, [a, b]) => sum + (b - a + 1), 0);
  if (count > MAX_TARGET_ADDRESSES) throw tooLarge('the target', count);
  return {
    count,
    ranges,
    *[Symbol.iterator]() {
      for (const [a, b] of ranges) for (let n = a; n <= b; n++) yield intToIpv4(n);
    },
  };
}

export type TargetCheck = { ok: true; count: number; ranges: [number, number][] } | { ok: false; reason: string };

/** parseTarget as data, for validators: the merged ranges and their count, or the reason it is refused. */
export function checkTarget(target: string): TargetCheck {
  try {
    const t = parseTarget(target);
    return { ok: true, count: t.count, ranges: t.ranges.map(([a, b]) => [a, b]) };
  } catch (err) {
    if (err instanceof TargetError) return { ok: false, reason: err.message };
    throw err;
  }
}

/** Whether `ip` (dotted quad, nothing around it) lies in `ranges` (as parseTarget returns them). */
export function targetIncludes(ranges: readonly (readonly [number, number])[], ip: string): boolean {
  const n = typeof ip === 'string' ? ipv4ToInt(ip) : undefined;
  if (n === undefined) return false;
  return ranges.some(([a, b]) => n >= a && n <= b);
}
