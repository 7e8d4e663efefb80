/**
 * Where a monitor's polls fall in time. One definition for both sides: the agent fires polls on
 * these slots and stamps each result with its slot; the server expects results on the same slots.
 * Slots are `k * interval + phase` in server-clock epoch milliseconds, so (monitor_id, time) is the
 * same however often a poll is retried, replayed or run twice.
 */

/** Stable per-monitor phase in [0, interval): monitors created together spread across the interval. */
export function phaseOf(monitorId: number, intervalMs: number): number {
  let h = monitorId | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % intervalMs;
}

/** The first slot at or after `at`. */
export function nextSlot(monitorId: number, intervalMs: number, at: number): number {
  const phase = phaseOf(monitorId, intervalMs);
  const offset = (((phase - (at % intervalMs)) % intervalMs) + intervalMs) % intervalMs;
  return at + offset;
}

/** The last slot at or before `at`. */
export function slotAtOrBefore(monitorId: number, intervalMs: number, at: number): number {
  const next = nextSlot(monitorId, intervalMs, at);
  return next === at ? at : next - intervalMs;
}

/** True when `time` falls exactly on one of the monitor's slots. */
export const isSlot = (monitorId: number, intervalMs: number, time: number): boolean =>
  nextSlot(monitorId, intervalMs, time) === time;

/** A poll's job id: the monitor and its slot, identical on every retry and replay. */
export const pollJobId = (monitorId: number, slot: number): string => `${monitorId}-${slot}`;
