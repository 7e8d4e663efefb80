/** Largest target a discovery may scan: a /16. */
export const MAX_TARGET_ADDRESSES = 65_536;

/** A target the user wrote that we cannot scan; the message says why, in their terms. */
export class TargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetError';
  }
}

/** Parsed discovery target: disjoint, sorted address ranges (inclusive, as uint32). */
export interface TargetSet extends Iterable<string> {
  readonly total: number;
  readonly ranges: ReadonlyArray<readonly [number, number]>;
}

export function ipToNumber(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    if (part.length > 1 && part.startsWith('0')) return undefined; // 010 is octal to some tools: refuse
    const octet = Number(part);
    if (octet > 255) return undefined;
    n = n * 256 + octet;
  }
  return n;
}

export function numberToIp(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function parseAddress(s: string, whole: string): number {
  const n = ipToNumber(s);
  if (n !== undefined) return n;
  if (s.includes(':')) throw new TargetError(`'${whole}': IPv6 is not supported; use IPv4 addresses`);
  throw new TargetError(`'${whole}': '${s}' is not an IPv4 address (expected e.g. 10.0.0.5)`);
}

function tooLarge(what: string, count: number): TargetError {
  return new TargetError(
    `${what} has ${count.toLocaleString('en-US')} addresses; a discovery may scan at most ${MAX_TARGET_ADDRESSES.toLocaleString('en-US')} (a /16)`,
  );
}

function parseItem(item: string): [number, number] {
  const slash = item.indexOf('/');
  if (slash >= 0) {
    const base = parseAddress(item.slice(0, slash), item);
    const bitsText = item.slice(slash + 1);
    if (!/^\d{1,2}$/.test(bitsText) || Number(bitsText) > 32) {
      throw new TargetError(`'${item}': the prefix length must be a number from 0 to 32`);
    }
    const bits = Number(bitsText);
    const size = 2 ** (32 - bits);
    if (size > MAX_TARGET_ADDRESSES) throw tooLarge(`'${item}'`, size);
    const network = base - (base % size);
    // Network and broadcast addresses answer no host; /31 and /32 have neither (RFC 3021).
    return bits <= 30 ? [network + 1, network + size - 2] : [network, network + size - 1];
  }
  const dash = item.indexOf('-');
  if (dash >= 0) {
    const fromText = item.slice(0, dash).trim();
    const toText = item.slice(dash + 1).trim();
    const from = parseAddress(fromText, item);
    let to: number;
    if (/^\d{1,3}$/.test(toText)) {
      // Short form 10.0.0.1-50: the end replaces the last octet.
      const last = Number(toText);
      if (last > 255) throw new TargetError(`'${item}': '${toText}' is not a valid last octet`);
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

/**
 * Parses a discovery target: a CIDR (`10.0.0.0/24`), a range (`10.0.0.1-10.0.0.50` or
 * `10.0.0.1-50`), a single address, or a comma list of any of these. Overlaps are merged so
 * each address is scanned once. Throws TargetError with a message meant for the user.
 */
export function parseTarget(input: string): TargetSet {
  if (typeof input !== 'string' || input.trim() === '') throw new TargetError('the target is empty');
  const items = input
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0) throw new TargetError('the target is empty');
  const parsed = items.map(parseItem).sort((a, b) => a[0] - b[0]);
  const ranges: [number, number][] = [];
  for (const r of parsed) {
    const last = ranges[ranges.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else ranges.push([r[0], r[1]]);
  }
  const total = ranges.reduce((sum, [a, b]) => sum + (b - a + 1), 0);
  if (total > MAX_TARGET_ADDRESSES) throw tooLarge('the target', total);
  return {
    total,
    ranges,
    *[Symbol.iterator]() {
      for (const [a, b] of ranges) for (let n = a; n <= b; n++) yield numberToIp(n);
    },
  };
}
