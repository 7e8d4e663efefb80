import type { EventBus } from '../events.ts';
import type { Log } from '../log.ts';
import type { WriteOutcome } from '../metrics/poll-result.ts';

/** Failures that say nothing about the device itself. */
const NOT_THE_DEVICE = new Set(['agent_offline', 'internal', 'plugin_error']);

/**
 * `threshold` consecutive failures of a device within `windowMs` mark it inactive,
 * which takes its monitors out of its agent's schedule. A success resets the count; an API call
 * setting the device `active` (or a later discovery) brings it back. Only what the agent reported
 * counts: failures the server made up for missing results (`source: 'server'`) say nothing about
 * the device.
 */
export function createHealthMonitor(o: {
  /** The devices service: it makes the change, audits it and announces it (device.status_changed). */
  devices: { markInactive(deviceId: number, failures: number): Promise<boolean> };
  events: EventBus;
  log: Log;
  threshold: number;
  windowMs: number;
}) {
  /** Per device: failures by result time, keyed by monitor + time so a replayed result counts once. */
  const failures = new Map<number, Map<string, number>>();
  const marking = new Set<number>();
  /** Marks in flight, so shutdown (and a test) can wait for them before the pool closes. */
  const inFlight = new Set<Promise<void>>();
  let lastPrune = Date.now();

  /** Once per window, devices whose failures have all left the window (or that were deleted) are forgotten. */
  const prune = (now: number): void => {
    if (now - lastPrune < o.windowMs) return;
    lastPrune = now;
    for (const [device, list] of failures) {
      for (const [k, at] of list) if (at <= now - o.windowMs) list.delete(k);
      if (list.size === 0) failures.delete(device);
    }
  };

  async function markInactive(deviceId: number, count: number): Promise<void> {
    if (marking.has(deviceId)) return;
    marking.add(deviceId);
    try {
      if (await o.devices.markInactive(deviceId, count))
        o.log.warn({ device_id: deviceId, failures: count }, 'device marked inactive after consecutive failures');
      failures.delete(deviceId);
    } catch (err) {
      o.log.error({ err: (err as Error).message, device_id: deviceId }, 'marking a device inactive failed');
    } finally {
      marking.delete(deviceId);
    }
  }

  // A user (or a discovery) setting the device active again starts its count from zero.
  o.events.on('device.status_changed', (e) => e.status === 'active' && failures.delete(e.id));

  return {
    /** Fed with every committed batch of poll outcomes (the metrics writer's onCommit). */
    observe(outcomes: WriteOutcome[]): void {
      const now = Date.now();
      prune(now);
      for (const x of [...outcomes].sort((a, b) => a.time.getTime() - b.time.getTime())) {
        if (x.source === 'server') continue;
        const t = x.time.getTime();
        if (x.ok) {
          // A success ends the failures before it, not later ones (a replayed old success among live failures).
          const list = failures.get(x.device_id);
          if (list) for (const [k, at] of list) if (at < t) list.delete(k);
          if (list?.size === 0) failures.delete(x.device_id);
          continue;
        }
        if (x.failure_class && NOT_THE_DEVICE.has(x.failure_class)) continue;
        if (t <= now - o.windowMs) continue;
        const list = failures.get(x.device_id) ?? new Map<string, number>();
        for (const [k, at] of list) if (at <= now - o.windowMs) list.delete(k);
        list.set(`${x.monitor_id}:${t}`, t);
        failures.set(x.device_id, list);
        if (list.size >= o.threshold) {
          const p = markInactive(x.device_id, list.size);
          inFlight.add(p);
          void p.finally(() => inFlight.delete(p));
        }
      }
    },
    /** Resolves once every deactivation started so far has been written (or has failed and been logged). */
    async settled(): Promise<void> {
      while (inFlight.size > 0) await Promise.all(inFlight);
    },
    /** Devices with failures counted now. */
    stats: () => ({ devices: failures.size }),
  };
}
