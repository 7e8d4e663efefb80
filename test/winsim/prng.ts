// Deterministic hashing so every simulated value is a pure function of (seed, host, key, step):
// tests recompute them instead of recording them.

/** 32-bit avalanche hash of any number of integers (murmur3 finaliser per mix step). */
export function hash32(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    let k = Math.imul(part | 0, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    // fold the high bits of non-32-bit integers (step numbers) as well
    h ^= Math.floor(part / 4294967296) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Uniform in [0, 1). */
export function rand01(...parts: number[]): number {
  return hash32(...parts) / 4294967296;
}

/** Integer uniform in [min, max]. */
export function randInt(min: number, max: number, ...parts: number[]): number {
  return min + Math.floor(rand01(...parts) * (max - min + 1));
}

export function pick<T>(list: readonly T[], ...parts: number[]): T {
  return list[hash32(...parts) % list.length] as T;
}

/** Stable small integer id for a string key (used to namespace hash inputs). */
export function keyId(key: string): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (Math.imul(h, 31) + key.charCodeAt(i)) | 0;
  return h;
}

/**
 * A per-step rate that wanders around `base` while its running sum stays O(1) to compute:
 * rate(k) = base + e(k+1) - e(k) with |e| <= amp, so sum(rate, 0..K-1) = base*K + e(K) - e(0).
 * Requires amp <= base/2 for rates to stay >= 0.
 */
export interface Telescoped {
  rate(step: number): number;
  /** Sum of rate(j) for j in [0, step). */
  sum(step: number): number;
}

export function telescoped(base: number, amp: number, ...key: number[]): Telescoped {
  const e = (j: number): number => Math.round((rand01(...key, j) * 2 - 1) * amp);
  return {
    rate: (k) => base + e(k + 1) - e(k),
    sum: (k) => base * k + e(k) - e(0),
  };
}
