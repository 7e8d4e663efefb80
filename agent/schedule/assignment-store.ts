import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { Assignment, SealedCredential, type CredentialRef, type ServerMessage } from '../../shared/protocol/index.ts';
import { writeFileAtomic } from '../atomic-file.ts';

type ScheduleFull = Extract<ServerMessage, { type: 'schedule.full' }>;
type ScheduleDelta = Extract<ServerMessage, { type: 'schedule.delta' }>;

/** Most monitors one agent holds (a larger set is refused, the old one kept). */
export const MAX_ASSIGNED_MONITORS = 200_000;
/** Most distinct sealed credentials (profile + version) one agent holds. */
export const MAX_HELD_CREDENTIALS = 2_000;
/** A resync left unanswered this long may be asked for again. */
const RESYNC_RETRY_MS = 30_000;
/** A failed save (disk full, I/O error) is tried again after this, doubling up to SAVE_RETRY_MAX_MS. */
const SAVE_RETRY_MS = 1_000;
const SAVE_RETRY_MAX_MS = 60_000;

/** The file in the agent's home directory that holds the last applied set. */
export const SCHEDULE_FILE = 'schedule.json';

/** `<home>/schedule.json`: the last applied set, so the agent can poll through its own restart while offline. */
export const ScheduleFile = z.object({
  format: z.literal(1),
  revision: z.number().int().nonnegative(),
  saved_at: z.string(),
  assignments: z.array(Assignment).max(MAX_ASSIGNED_MONITORS),
  credentials: z.array(SealedCredential).max(MAX_HELD_CREDENTIALS),
});
export type ScheduleFile = z.infer<typeof ScheduleFile>;

export type ScheduleChange =
  | { kind: 'full'; assignments: Assignment[] }
  | { kind: 'delta'; upsert: Assignment[]; remove: number[] };

export interface StoreLog {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

export interface AssignmentStoreOptions {
  /** Where the set is persisted (mode 0600). The credentials in it stay sealed to the agent's key. */
  file: string;
  log: StoreLog;
  maxMonitors?: number;
  maxCredentials?: number;
  /** A set or change was applied in memory: the schedule follows it. Called before it is persisted. */
  onChange: (change: ScheduleChange) => void;
  /** `revision` is on disk: acknowledge it to the server (schedule.ack). Not called if the link went down since it arrived. */
  onPersisted: (revision: number) => void;
  /** The agent cannot apply what it got: ask for the full set (schedule.resync). */
  onResync: (have: number | null, reason: string) => void;
  now?: () => number;
  /** First wait before a failed save is tried again (default 1 s, doubling up to 60 s). */
  saveRetryMs?: number;
}

/**
 * The agent's assignment set, its sealed credentials and its revision. Applies schedule.full
 * (parts accumulate until `more: false`, then replace the set at once) and schedule.delta (only on
 * top of the revision it names), persists each applied revision atomically, then lets it be acked.
 */
export interface AssignmentStore {
  /** Loads the persisted set (at start, before any connect); false if none or damaged (logged). */
  load(): boolean;
  applyFull(m: ScheduleFull): void;
  applyDelta(m: ScheduleDelta): void;
  /** The link went down: a half-received full set is dropped (the server sends it again on connect). */
  linkDown(): void;
  revision(): number | null;
  size(): number;
  assignments(): IterableIterator<Assignment>;
  find(monitorId: number): Assignment | undefined;
  credential(ref: CredentialRef): SealedCredential | undefined;
  /** Resolves once the save under way (if any) has finished, written or failed (a failed one is retried later). */
  flush(): Promise<void>;
  /** Stops retrying a failed save (at agent stop), after the save under way. */
  close(): Promise<void>;
}

const credKey = (c: CredentialRef): string => `${c.profile_id}:${c.version}`;

export function createAssignmentStore(o: AssignmentStoreOptions): AssignmentStore {
  const maxMonitors = o.maxMonitors ?? MAX_ASSIGNED_MONITORS;
  const maxCredentials = o.maxCredentials ?? MAX_HELD_CREDENTIALS;
  const now = o.now ?? Date.now;
  let revision: number | null = null;
  let monitors = new Map<number, Assignment>();
  let credentials = new Map<string, SealedCredential>();
  /** A full set arriving in parts. */
  let pending:
    | { revision: number; monitors: Map<number, Assignment>; credentials: Map<string, SealedCredential> }
    | undefined;
  /** A full set of this revision was refused (over a bound): its remaining parts are ignored. */
  let refused: number | undefined;
  let resyncAskedAt = -Infinity;
  let writing: Promise<void> | undefined;
  let dirty = false;
  /** Saves failed in a row; while > 0 a retry timer is armed and nothing is acknowledged. */
  let failures = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let closed = false;
  /** Bumped when the link goes down: a revision is acked only on the connection that sent it. */
  let linkEpoch = 0;
  let revisionEpoch = -1;
  const saveRetryMs = o.saveRetryMs ?? SAVE_RETRY_MS;

  /** Keeps only the credentials some assignment refers to. */
  const referenced = (
    ms: Map<number, Assignment>,
    cs: Map<string, SealedCredential>,
  ): Map<string, SealedCredential> => {
    const out = new Map<string, SealedCredential>();
    for (const a of ms.values()) {
      if (!a.credential) continue;
      const k = credKey(a.credential);
      const c = cs.get(k);
      if (c) out.set(k, c);
    }
    return out;
  };

  const missingCredentials = (ms: Iterable<Assignment>, cs: Map<string, SealedCredential>): number => {
    let n = 0;
    for (const a of ms) if (a.credential && !cs.has(credKey(a.credential))) n++;
    return n;
  };

  /**
   * Holds a new schedule revision (warning of the `changed` assignments whose credential the server
   * did not send), tells the scheduler and saves it.
   */
  const adopt = (
    rev: number,
    ms: Map<number, Assignment>,
    cs: Map<string, SealedCredential>,
    changed: Iterable<Assignment>,
    change: ScheduleChange,
  ): void => {
    const missing = missingCredentials(changed, cs);
    if (missing)
      o.log.warn(
        { revision: rev, monitors: missing },
        'some assignments refer to credentials the server did not send; their polls will fail',
      );
    revision = rev;
    revisionEpoch = linkEpoch;
    monitors = ms;
    credentials = cs;
    o.onChange(change);
    persist();
  };

  const askResync = (reason: string): void => {
    if (now() - resyncAskedAt < RESYNC_RETRY_MS) return;
    resyncAskedAt = now();
    o.log.warn({ have: revision, reason }, 'asking the server for the full schedule');
    o.onResync(revision, reason);
  };

  const serialize = (): string =>
    JSON.stringify({
      format: 1,
      revision: revision!,
      saved_at: new Date(now()).toISOString(),
      assignments: [...monitors.values()],
      credentials: [...credentials.values()],
    } satisfies ScheduleFile);

  /**
   * Writes are coalesced: one at a time, and the latest revision when it finishes is what is acked.
   * A revision is acknowledged only once it is on disk: after a failed write nothing is acked and
   * the write is tried again later (polling goes on from memory meanwhile).
   */
  const persist = (): void => {
    dirty = true;
    if (writing || retryTimer || closed) return;
    startWriting();
  };

  const startWriting = (): void => {
    writing = (async () => {
      while (dirty) {
        dirty = false;
        const rev = revision!;
        const epoch = revisionEpoch;
        try {
          await writeFileAtomic(o.file, serialize());
        } catch (err) {
          dirty = true;
          if (closed) {
            o.log.error(
              { err: (err as Error).message, file: o.file, revision: rev },
              'the schedule could not be saved at stop',
            );
            return;
          }
          const waitMs = Math.min(SAVE_RETRY_MAX_MS, saveRetryMs * 2 ** failures++);
          o.log.error(
            { err: (err as Error).message, file: o.file, revision: rev, retry_in_ms: waitMs },
            'the schedule could not be saved; it is applied but not acknowledged, and would not survive a restart while offline',
          );
          retryTimer = setTimeout(() => {
            retryTimer = undefined;
            persist();
          }, waitMs);
          retryTimer.unref();
          return;
        }
        if (failures) o.log.info({ file: o.file, revision: rev }, 'the schedule was saved again');
        failures = 0;
        // Acked on another connection, the server would not know the revision and send the whole set again.
        if (epoch === linkEpoch) o.onPersisted(rev);
      }
    })().finally(() => (writing = undefined));
  };

  return {
    load() {
      let text: string;
      try {
        text = readFileSync(o.file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          o.log.warn(
            { err: (err as Error).message, file: o.file },
            'the saved schedule could not be read; waiting for the server',
          );
        return false;
      }
      let parsed: ScheduleFile;
      try {
        const r = ScheduleFile.safeParse(JSON.parse(text));
        if (!r.success) {
          const i = r.error.issues[0];
          throw new Error(`${i ? `${i.path.join('.') || '(root)'}: ${i.message}` : 'schema mismatch'}`);
        }
        parsed = r.data;
      } catch (err) {
        o.log.error(
          { err: (err as Error).message.slice(0, 300), file: o.file },
          'the saved schedule is damaged and was ignored; waiting for the server',
        );
        return false;
      }
      revision = parsed.revision;
      monitors = new Map(parsed.assignments.map((a) => [a.monitor_id, a]));
      credentials = new Map(parsed.credentials.map((c) => [credKey(c), c]));
      o.log.info({ revision, monitors: monitors.size, saved_at: parsed.saved_at }, 'loaded the saved schedule');
      o.onChange({ kind: 'full', assignments: [...monitors.values()] });
      return true;
    },

    applyFull(m) {
      if (refused === m.revision) return;
      if (!pending || pending.revision !== m.revision)
        pending = { revision: m.revision, monitors: new Map(), credentials: new Map() };
      for (const a of m.assignments) pending.monitors.set(a.monitor_id, a);
      for (const c of m.credentials) pending.credentials.set(credKey(c), c);
      if (pending.monitors.size > maxMonitors || pending.credentials.size > maxCredentials) {
        o.log.error(
          {
            revision: m.revision,
            monitors: pending.monitors.size,
            credentials: pending.credentials.size,
            max_monitors: maxMonitors,
            max_credentials: maxCredentials,
          },
          'the schedule from the server is larger than this agent holds; it was refused and the previous one is kept',
        );
        refused = m.revision;
        pending = undefined;
        return;
      }
      if (m.more) return;
      const set = pending;
      pending = undefined;
      refused = undefined;
      resyncAskedAt = -Infinity;
      const full: ScheduleChange = { kind: 'full', assignments: [...set.monitors.values()] };
      adopt(set.revision, set.monitors, referenced(set.monitors, set.credentials), set.monitors.values(), full);
    },

    applyDelta(m) {
      if (revision === null || m.base !== revision || m.revision !== m.base + 1) {
        askResync(`delta ${m.base}->${m.revision} does not apply to revision ${revision ?? 'none'}`);
        return;
      }
      const next = new Map(monitors);
      for (const id of m.remove) next.delete(id);
      for (const a of m.upsert) next.set(a.monitor_id, a);
      const pool = new Map(credentials);
      for (const c of m.credentials) pool.set(credKey(c), c);
      const kept = referenced(next, pool);
      if (next.size > maxMonitors || kept.size > maxCredentials) {
        o.log.error(
          { revision: m.revision, monitors: next.size, credentials: kept.size },
          'a schedule change would exceed what this agent holds; it was refused',
        );
        askResync(`delta ${m.revision} exceeds the agent's bounds`);
        return;
      }
      adopt(m.revision, next, kept, m.upsert, { kind: 'delta', upsert: m.upsert, remove: m.remove });
    },

    linkDown() {
      linkEpoch++;
      pending = undefined;
      refused = undefined;
      resyncAskedAt = -Infinity;
    },
    revision: () => revision,
    size: () => monitors.size,
    assignments: () => monitors.values(),
    find: (id) => monitors.get(id),
    credential: (ref) => credentials.get(credKey(ref)),
    async flush() {
      while (writing) await writing;
    },
    async close() {
      closed = true;
      const retrying = retryTimer !== undefined;
      clearTimeout(retryTimer);
      retryTimer = undefined;
      // One last try for a revision whose save failed; the one being written (and any applied
      // meanwhile) is finished first.
      if (retrying && !writing) startWriting();
      while (writing) await writing;
    },
  };
}

/** What `nmslite-agent status` shows of the saved set: null when there is none, `error` when it cannot be read. */
export function readScheduleSummary(
  file: string,
): { revision: number; monitors: number; credentials: number; saved_at: string } | { error: string } | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? null : { error: (err as Error).message.slice(0, 300) };
  }
  try {
    const r = ScheduleFile.safeParse(JSON.parse(text));
    if (!r.success)
      return {
        error:
          `damaged (${r.error.issues[0]?.path.join('.') || '(root)'}: ${r.error.issues[0]?.message ?? 'schema mismatch'})`.slice(
            0,
            300,
          ),
      };
    return {
      revision: r.data.revision,
      monitors: r.data.assignments.length,
      credentials: r.data.credentials.length,
      saved_at: r.data.saved_at,
    };
  } catch (err) {
    return { error: `damaged (${(err as Error).message})`.slice(0, 300) };
  }
}
