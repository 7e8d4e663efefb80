import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { writeFileAtomic, writeFileAtomicSync } from '../atomic-file.ts';

/** The file in the agent's home directory that holds the offline state. */
export const STATE_FILE = 'state.json';

/** `<home>/state.json`: what the agent must remember about being cut off across its own restarts. */
export const AgentState = z.object({
  format: z.literal(1),
  /** Server clock minus agent clock, last measured: an agent restarted offline keeps stamping in server time. */
  clock_offset_ms: z.number().int().min(-1e12).max(1e12),
  /** Server-clock epoch ms since when the link is down; null while connected. */
  offline_since: z.number().int().nonnegative().nullable(),
  /** Server-clock epoch ms the agent last knew it was connected (bounds an outage that began while it was stopped). */
  last_connected_at: z.number().int().nonnegative().nullable(),
  /** Polls run while the link was down (all outages, persisted). */
  polls_offline: z.number().int().nonnegative(),
  polling_paused: z.boolean(),
  /** Server-clock epoch ms of the latest slot the schedule fired: after a restart no slot at or before it is polled again. */
  last_slot: z.number().int().nonnegative().nullable().optional(),
  saved_at: z.string(),
});
export type AgentState = z.infer<typeof AgentState>;

/** A saved latest slot further ahead of the clock than this is not waited for. */
const MAX_LAST_SLOT_AHEAD_MS = 3_600_000;
/**
 * Server time never jumps forward when the offset is measured larger (that would skip every slot
 * in the gap): it runs this much faster than the agent's clock until it has caught up (a 10 s
 * correction takes 40 s). Corrections backwards are applied at once: the schedule's slots only
 * move forward, so they just fire later.
 */
const SLEW_RATE = 0.25;
/**
 * A forward correction larger than this (a wildly wrong saved offset) is applied at once: catching
 * it up would keep every poll late (in true server time) for longer than four minutes.
 */
const MAX_SLEW_MS = 60_000;

export interface OfflineLog {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

export interface OfflineStateOptions {
  file: string;
  /** Past this long offline the agent stops polling until the server is back. */
  maxOfflineMs: number;
  log: OfflineLog;
  /** The agent's own clock (tests inject one). */
  localNow?: () => number;
  /** Counters are written at most this often (and on every link change and at stop). */
  saveEveryMs?: number;
  /** The latest slot the schedule fired (saved with the state). */
  lastSlot?: () => number | null;
}

export interface OfflineSnapshot {
  clock_offset_ms: number;
  offline_since: number | null;
  polls_offline: number;
  polling_paused: boolean;
}

/**
 * Tracks the link's outages in server time: since when the agent is cut off, how many polls it ran
 * meanwhile, and whether it has been cut off too long to keep polling. The link reports up/down
 * and the clock offset; the poller asks `admitPoll()` before each scheduled poll.
 */
export interface OfflineState {
  /** Reads state.json (a damaged one is logged and ignored); returns the persisted clock offset. */
  load(): number;
  /** The latest slot fired before this start, as last saved (null: unknown, or implausibly far ahead). */
  savedLastSlot(): number | null;
  /** Server-corrected time: the agent clock plus the offset; it jumps forward only for corrections over MAX_SLEW_MS. */
  serverNow(): number;
  /** A new measurement of server clock minus agent clock. */
  setOffset(ms: number): void;
  linkUp(): void;
  linkDown(): void;
  /** True if a scheduled poll may run now (counting it when offline); false while paused. */
  admitPoll(): boolean;
  snapshot(): OfflineSnapshot;
  /** Writes the state a last time (at stop). */
  close(): Promise<void>;
}

export function createOfflineState(o: OfflineStateOptions): OfflineState {
  const localNow = o.localNow ?? Date.now;
  const saveEvery = o.saveEveryMs ?? 5000;
  /** The offset in use, and the one measured last that it moves towards (never past it). */
  let offset = 0;
  let target = 0;
  let slewedAt = 0;
  let connected = false;
  let offlineSince: number | null = null;
  let lastConnectedAt: number | null = null;
  let pollsOffline = 0;
  let paused = false;
  let savedAt = -Infinity;
  let savedLastSlot: number | null = null;
  let saveTimer: NodeJS.Timeout | undefined;
  let writing: Promise<void> | undefined;
  let closed = false;

  const serverNow = (): number => {
    const local = localNow();
    if (offset < target) offset = Math.min(target, offset + Math.max(0, local - slewedAt) * SLEW_RATE);
    slewedAt = local;
    return local + offset;
  };

  const serialize = (): string => {
    if (connected) lastConnectedAt = serverNow();
    const s: AgentState = {
      format: 1,
      clock_offset_ms: Math.round(target),
      offline_since: offlineSince,
      last_connected_at: lastConnectedAt,
      polls_offline: pollsOffline,
      polling_paused: paused,
      last_slot: o.lastSlot?.() ?? savedLastSlot,
      saved_at: new Date(localNow()).toISOString(),
    };
    return JSON.stringify(s);
  };

  const saveNow = (): void => {
    if (closed) return;
    clearTimeout(saveTimer);
    saveTimer = undefined;
    if (writing) {
      saveSoon();
      return;
    }
    savedAt = localNow();
    writing = writeFileAtomic(o.file, serialize())
      .catch((err: Error) => o.log.error({ err: err.message, file: o.file }, 'the agent state could not be saved'))
      .finally(() => (writing = undefined));
  };

  const saveSoon = (): void => {
    if (saveTimer || closed) return;
    saveTimer = setTimeout(saveNow, Math.max(0, savedAt + saveEvery - localNow()));
    saveTimer.unref();
  };

  const overdue = (): boolean => offlineSince !== null && serverNow() - offlineSince > o.maxOfflineMs;

  const checkPause = (): boolean => {
    if (!paused && overdue()) {
      paused = true;
      o.log.warn(
        { offline_since: new Date(offlineSince!).toISOString(), max_offline_hours: o.maxOfflineMs / 3_600_000 },
        'offline for longer than max_offline_hours: polling is paused until the server is reachable again',
      );
      saveNow();
    }
    return paused;
  };

  // While connected, last_connected_at is refreshed now and then: an agent killed while connected
  // and restarted offline counts its outage from about then.
  const keepAlive = setInterval(() => {
    if (connected) saveNow();
  }, 60_000);
  keepAlive.unref();

  return {
    load() {
      let state: AgentState | undefined;
      try {
        const r = AgentState.safeParse(JSON.parse(readFileSync(o.file, 'utf8')));
        if (r.success) state = r.data;
        else
          o.log.error(
            { file: o.file, err: r.error.issues[0]?.message },
            'the agent state file is damaged and was ignored',
          );
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          o.log.error({ file: o.file, err: (err as Error).message }, 'the agent state file is damaged and was ignored');
      }
      offset = target = state?.clock_offset_ms ?? 0;
      pollsOffline = state?.polls_offline ?? 0;
      lastConnectedAt = state?.last_connected_at ?? null;
      savedLastSlot = state?.last_slot ?? null;
      if (savedLastSlot !== null && savedLastSlot > serverNow() + MAX_LAST_SLOT_AHEAD_MS) {
        // The clock (or the saved offset) was far off when it was saved: waiting for it would stop polling.
        o.log.warn(
          { last_slot: new Date(savedLastSlot).toISOString() },
          'the saved latest slot lies far ahead of the clock; ignored',
        );
        savedLastSlot = null;
      }
      // Not connected yet: the outage goes on from when it began (or from when the agent last knew it was connected).
      offlineSince = state?.offline_since ?? lastConnectedAt ?? serverNow();
      paused = false;
      checkPause();
      return offset;
    },
    savedLastSlot: () => savedLastSlot,
    serverNow,
    setOffset(ms) {
      serverNow();
      target = ms;
      // Nothing fired yet (a new agent): no slot to skip, so its first measurement applies at once.
      const fired = (o.lastSlot?.() ?? savedLastSlot) !== null;
      if (ms < offset || ms - offset > MAX_SLEW_MS || !fired) offset = ms;
    },
    linkUp() {
      connected = true;
      offlineSince = null;
      if (paused) o.log.info({}, 'the server is reachable again: polling resumes');
      paused = false;
      saveNow();
    },
    linkDown() {
      if (!connected) return;
      connected = false;
      offlineSince = serverNow();
      saveNow();
    },
    admitPoll() {
      if (connected) return true;
      if (checkPause()) return false;
      pollsOffline++;
      saveSoon();
      return true;
    },
    snapshot() {
      if (!connected) checkPause();
      return {
        clock_offset_ms: target,
        offline_since: offlineSince,
        polls_offline: pollsOffline,
        polling_paused: paused,
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(keepAlive);
      clearTimeout(saveTimer);
      await writing;
      try {
        writeFileAtomicSync(o.file, serialize());
      } catch (err) {
        o.log.error({ err: (err as Error).message, file: o.file }, 'the agent state could not be saved');
      }
    },
  };
}

/** Reads state.json for `nmslite-agent status` (null when absent or damaged). */
export function readAgentState(file: string): AgentState | null {
  try {
    const r = AgentState.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}
