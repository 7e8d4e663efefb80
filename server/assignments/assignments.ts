import type { ResultItem, SealedCredential, ServerMessage } from '../../shared/protocol/index.ts';
import type { EventBus } from '../events.ts';
import type { Log } from '../log.ts';
import type { AssignedMonitor, AssignmentStore } from './assignment-store.ts';
import { createRereadWindow, WHOLE_SET, type ChangeScope, type Reread } from './reread-window.ts';
import { followChanges, type RoutingTarget } from './change-routing.ts';
import {
  credentialKey,
  DEFAULT_PART_LIMITS,
  deltaMessage,
  diffAssignments,
  diffPart,
  fullSetMessages,
  type PartLimits,
} from './schedule-messages.ts';

/** The connected agents, as far as this service talks to them. */
export interface AgentLinks {
  send(agentId: number, msg: ServerMessage): boolean;
  connection(agentId: number): number | undefined;
  onlineAgents(): number[];
}

/** What the expectation tracker is told: exactly the monitors assigned, from here only. */
export interface ExpectationSink {
  set(e: { monitor_id: number; agent_id: number; interval_ms: number }): void;
  remove(monitorId: number): void;
}

export interface Sealer {
  sealRef(agentId: number, ref: { profile_id: number; version: number }): Promise<SealedCredential>;
  forgetProfile(profileId: number): void;
}

export interface AssignmentOptions {
  store: AssignmentStore;
  links: AgentLinks;
  sealer: Sealer;
  tracker: ExpectationSink;
  events: EventBus;
  log: Log;
  /** Changes within this window are sent as one delta per agent (agents.schedule_debounce_ms). */
  debounceMs: number;
  /** Smaller parts for tests and benchmarks; the protocol's limits are the ceiling. */
  partLimits?: Partial<PartLimits>;
  /** First revision base (epoch ms); see `createAssignmentService`. */
  revisionEpoch?: number;
  /** First wait before a failed read or seal is tried again (default 5 s; a seal retry backs off to 5 min). */
  retryMs?: number;
}

export interface ScheduleState {
  /** The last revision sent to the agent (full set or delta), null before the first. */
  revision_sent: number | null;
  /** The last of those revisions the agent acknowledged. */
  revision_acked: number | null;
  monitors_assigned: number;
}

interface Session {
  connection: number;
  active: boolean;
  /**
   * The first and last revisions sent on this connection. Every revision between them went to
   * this connection (one counter per agent, messages only to its live session), so an ack is
   * checked against the range however far the agent lags behind.
   */
  first: number | null;
  last: number | null;
  acked: number | null;
  /** The full set went out on this connection: from now on changes go as deltas. */
  ready: boolean;
  /** A full set for this connection is queued and has not started: further requests join it. */
  fullQueued: boolean;
  /** Credentials that could not be sealed for this connection: a full set is retried after a backoff. */
  sealRetry: { timer: NodeJS.Timeout | undefined; attempts: number };
}

interface AgentState {
  id: number;
  current: Map<number, AssignedMonitor>;
  revision: number;
  chain: Promise<void>;
  /** The re-read every connect starts with; results wait for it. */
  connectRead: Promise<void> | undefined;
  session: Session | undefined;
}

/**
 * A result stamped further than this past the server's clock is dropped: a slot is never later
 * than the agent's (server-corrected) now, and a stored future time would freeze last_polled and
 * the failure count until the clock caught up.
 */
export const MAX_RESULT_AHEAD_MS = 5 * 60_000;
const SEAL_RETRY_MAX_MS = 300_000;

/**
 * Per agent, the versioned set of monitors it polls on its own: every enabled monitor on its
 * schedulable devices. The only place that changes the sets, so it also feeds the expectation
 * tracker, and the only judge of which results an agent may store.
 *
 * Revisions: each agent's counter starts at the server's start time in epoch ms and goes up by one
 * per message (a full set or a delta), so a restarted server continues above what it sent before
 * (as long as it sent fewer than one revision per millisecond of its previous run).
 *
 * Every change to an agent (event, connect, ack, resync) runs on that agent's own chain, so a delta
 * never overtakes the full set it is based on.
 */
export function createAssignmentService(o: AssignmentOptions) {
  const { debounceMs } = o;
  const limits: PartLimits = { ...DEFAULT_PART_LIMITS, ...o.partLimits };
  const epoch = o.revisionEpoch ?? Date.now();
  const retryMs = o.retryMs ?? 5000;
  const agents = new Map<number, AgentState>();
  const owner = new Map<number, number>();
  const unsubscribe: (() => void)[] = [];
  let stopped = false;

  const stateOf = (agentId: number): AgentState => {
    let s = agents.get(agentId);
    if (!s)
      agents.set(
        agentId,
        (s = {
          id: agentId,
          current: new Map(),
          revision: epoch,
          chain: Promise.resolve(),
          connectRead: undefined,
          session: undefined,
        }),
      );
    return s;
  };

  const enqueue = (s: AgentState, what: string, task: () => Promise<void>): Promise<void> => {
    const run = s.chain
      .then(task)
      .catch((err: Error) => o.log.error({ err: err.message, agent_id: s.id }, `assignments: ${what} failed`));
    s.chain = run;
    return run;
  };

  /** Applies a change to the set: tracker and ownership first, then the delta to a connected agent. */
  const apply = async (s: AgentState, change: { upsert: AssignedMonitor[]; remove: number[] }): Promise<void> => {
    if (change.upsert.length === 0 && change.remove.length === 0) return;
    for (const a of change.upsert) {
      s.current.set(a.assignment.monitor_id, a);
      owner.set(a.assignment.monitor_id, s.id);
      o.tracker.set({
        monitor_id: a.assignment.monitor_id,
        agent_id: s.id,
        interval_ms: a.assignment.interval_s * 1000,
      });
    }
    for (const id of change.remove) {
      s.current.delete(id);
      // A monitor that moved to another agent already belongs to that one.
      if (owner.get(id) !== s.id) continue;
      owner.delete(id);
      o.tracker.remove(id);
    }
    const session = live(s);
    if (!session?.ready) return;
    const sealed = await sealFor(s, change.upsert);
    // A session that started meanwhile gets the change in its own full set (queued behind this).
    if (live(s) !== session) return;
    const msg = deltaMessage(s.revision, change, sealed, limits);
    if (!msg) return sendFull(s, 'change too large for one delta');
    s.revision++;
    if (o.links.send(s.id, msg)) remember(session, s.revision);
  };

  /** The session if it is still the agent's current connection. */
  const live = (s: AgentState): Session | undefined =>
    s.session?.active && o.links.connection(s.id) === s.session.connection ? s.session : undefined;

  const remember = (session: Session, revision: number): void => {
    session.first ??= revision;
    session.last = revision;
  };

  const sealFor = async (s: AgentState, items: Iterable<AssignedMonitor>): Promise<Map<string, SealedCredential>> => {
    const refs = new Map<string, { profile_id: number; version: number }>();
    for (const a of items)
      if (a.assignment.credential) refs.set(credentialKey(a.assignment.credential), a.assignment.credential);
    const sealed = new Map<string, SealedCredential>();
    let failed = false;
    await Promise.all(
      [...refs].map(async ([key, ref]) => {
        try {
          sealed.set(key, await o.sealer.sealRef(s.id, ref));
        } catch (err) {
          // The poll fails on the agent with a clear class meanwhile; the rest of the set still goes out.
          failed = true;
          o.log.warn(
            { err: (err as Error).message, agent_id: s.id, credential_profile_id: ref.profile_id },
            'assignments: could not seal a credential; retrying with the full set',
          );
        }
      }),
    );
    const session = live(s);
    if (failed && session) retrySealing(s, session);
    else if (session && refs.size > 0) session.sealRetry.attempts = 0;
    return sealed;
  };

  /** The agent lacks a credential (a read or seal failed): its full set goes again after a backoff. */
  const retrySealing = (s: AgentState, session: Session): void => {
    if (stopped || session.sealRetry.timer) return;
    const wait = Math.min(SEAL_RETRY_MAX_MS, retryMs * 2 ** session.sealRetry.attempts++);
    session.sealRetry.timer = setTimeout(() => {
      session.sealRetry.timer = undefined;
      queueFull(s, session, 'a credential could not be sealed before');
    }, wait);
    session.sealRetry.timer.unref();
  };

  /**
   * Queues one full set for the session; requests made before it starts (resyncs, ack mismatches
   * in a burst) are answered by it, so an agent asking repeatedly costs one set, not one each.
   */
  const queueFull = (s: AgentState, session: Session, why: string): boolean => {
    if (session.fullQueued) return false;
    session.fullQueued = true;
    void enqueue(s, `full set (${why})`, () => {
      session.fullQueued = false;
      return live(s) === session ? sendFull(s, why) : Promise.resolve();
    });
    return true;
  };

  const sendFull = async (s: AgentState, why: string): Promise<void> => {
    const session = live(s);
    if (!session) return;
    const items = [...s.current.values()].sort((a, b) => a.assignment.monitor_id - b.assignment.monitor_id);
    const sealed = await sealFor(s, items);
    if (live(s) !== session) return;
    const revision = ++s.revision;
    const msgs = fullSetMessages(revision, items, sealed, limits);
    for (const m of msgs) if (!o.links.send(s.id, m)) return;
    remember(session, revision);
    session.ready = true;
    o.log.info(
      { agent_id: s.id, revision, monitors: items.length, parts: msgs.length, why },
      'assignments: full set sent',
    );
  };

  /**
   * Re-reads what changed: the whole set (connect, bulk changes) or only the monitors, devices,
   * credential profiles and plugins named, so one change to a 100,000-monitor agent reads the
   * rows it touched, not all of them.
   */
  const refresh = async (s: AgentState, what: Reread): Promise<void> => {
    let change: { upsert: AssignedMonitor[]; remove: number[] };
    try {
      change = what.all
        ? diffAssignments(s.current, new Map((await o.store.loadAgent(s.id)).map((r) => [r.assignment.monitor_id, r])))
        : diffPart(s.current, await o.store.loadSome(s.id, what), what);
    } catch (err) {
      o.log.error({ err: (err as Error).message, agent_id: s.id }, 'assignments: reading the set failed; retrying');
      if (!stopped) setTimeout(() => markDirty(s.id), retryMs).unref();
      return;
    }
    await apply(s, change);
  };

  const rereads = createRereadWindow({
    debounceMs,
    due: (agentId, what) => {
      const s = stateOf(agentId);
      return enqueue(s, 'refresh', () => refresh(s, what));
    },
  });

  const markDirty = (agentId: number, scope: ChangeScope = {}): void => {
    if (!stopped) rereads.mark(agentId, scope);
  };

  const agentsUsing = (pick: (a: AssignedMonitor) => boolean): number[] => {
    const out: number[] = [];
    for (const s of agents.values()) {
      for (const a of s.current.values()) {
        if (!pick(a)) continue;
        out.push(s.id);
        break;
      }
    }
    return out;
  };

  /** What the change routing (change-routing.ts) drives. */
  const routes: RoutingTarget = {
    markDirty,
    ownerOf: (monitorId) => owner.get(monitorId),
    agentsUsing,
    knownAgents: () => [...agents.keys()],
    connected(agentId, connection) {
      const s = stateOf(agentId);
      const session: Session = {
        connection,
        active: true,
        first: null,
        last: null,
        acked: null,
        ready: false,
        fullQueued: false,
        sealRetry: { timer: undefined, attempts: 0 },
      };
      s.session = session;
      const read = enqueue(s, 'reading the set on connect', () => refresh(s, WHOLE_SET));
      s.connectRead = read;
      void read.then(() => s.connectRead === read && (s.connectRead = undefined));
      queueFull(s, session, 'connect');
    },
    disconnected(agentId, connection) {
      const s = agents.get(agentId);
      if (s?.session?.connection !== connection) return;
      s.session.active = false;
      clearTimeout(s.session.sealRetry.timer);
    },
    forget(agentId) {
      const s = agents.get(agentId);
      if (!s) return;
      rereads.cancel(agentId);
      for (const id of s.current.keys()) {
        if (owner.get(id) !== agentId) continue;
        owner.delete(id);
        o.tracker.remove(id);
      }
      agents.delete(agentId);
    },
  };

  return {
    /** Reads every agent's set (one query), tells the tracker, and starts following changes. */
    async start(): Promise<void> {
      const rows = await o.store.loadAll();
      const byAgent = new Map<number, AssignedMonitor[]>();
      for (const r of rows) {
        const list = byAgent.get(r.agent_id);
        if (list) list.push(r);
        else byAgent.set(r.agent_id, [r]);
      }
      for (const [id, list] of byAgent) {
        const s = stateOf(id);
        await apply(s, diffAssignments(s.current, new Map(list.map((r) => [r.assignment.monitor_id, r]))));
      }
      unsubscribe.push(
        followChanges({
          events: o.events,
          store: o.store,
          links: o.links,
          sealer: o.sealer,
          log: o.log,
          target: routes,
        }),
      );
      o.log.info({ agents: byAgent.size, monitors: rows.length }, 'assignments loaded');
    },
    async stop(): Promise<void> {
      stopped = true;
      rereads.stop();
      for (const u of unsubscribe.splice(0)) u();
      for (const s of agents.values()) {
        if (s.session) clearTimeout(s.session.sealRetry.timer);
      }
      await Promise.all([...agents.values()].map((s) => s.chain));
    },
    /**
     * The results of monitors in the agent's current set; the rest (deleted, disabled, moved while
     * the agent was offline, or never its own) are left out and counted in one log line, as are
     * results stamped more than MAX_RESULT_AHEAD_MS ahead of the server's clock. Waits for a
     * pending re-read so a change made just before is honoured.
     */
    async ownResults(agentId: number, items: readonly ResultItem[]): Promise<ResultItem[]> {
      await agents.get(agentId)?.connectRead;
      await rereads.pending(agentId);
      const current = agents.get(agentId)?.current;
      const owned = current ? items.filter((r) => current.has(r.monitor_id)) : [];
      const latest = Date.now() + MAX_RESULT_AHEAD_MS;
      const timely = owned.filter((r) => Date.parse(r.time) <= latest);
      if (owned.length < items.length) {
        o.log.info(
          { agent_id: agentId, dropped: items.length - owned.length, stored: timely.length },
          'assignments: results for monitors not assigned to this agent acknowledged and dropped',
        );
      }
      if (timely.length < owned.length) {
        const first = owned.find((r) => Date.parse(r.time) > latest)!;
        o.log.warn(
          { agent_id: agentId, dropped: owned.length - timely.length, monitor_id: first.monitor_id, time: first.time },
          "assignments: results stamped ahead of the server's clock acknowledged and dropped (is the agent's clock offset wrong?)",
        );
      }
      return timely;
    },
    /** schedule.ack: progress when it names a revision sent on this connection, else the full set again. */
    acknowledged(agentId: number, connection: number, revision: number): void {
      const s = agents.get(agentId);
      const session = s?.session;
      if (!s || !session || session.connection !== connection) return;
      if (session.first !== null && session.last !== null && revision >= session.first && revision <= session.last) {
        session.acked = Math.max(session.acked ?? 0, revision);
        return;
      }
      if (queueFull(s, session, 'ack mismatch')) {
        o.log.warn(
          { agent_id: agentId, acked: revision, sent: session.last },
          'assignments: the agent acknowledged a revision it was not sent; sending the full set',
        );
      }
    },
    /** schedule.resync: the agent saw a gap or lost its set. */
    resync(agentId: number, connection: number, have: number | null, reason: string): void {
      const s = agents.get(agentId);
      if (!s?.session || s.session.connection !== connection) return;
      if (queueFull(s, s.session, 'resync'))
        o.log.info({ agent_id: agentId, have, reason }, 'assignments: the agent asked for the full set');
    },
    scheduleOf(agentId: number): ScheduleState {
      const s = agents.get(agentId);
      return {
        revision_sent: s?.session?.last ?? null,
        revision_acked: s?.session?.acked ?? null,
        monitors_assigned: s?.current.size ?? 0,
      };
    },
    /** Resolves once every change seen so far has been applied (tests, benchmarks). */
    async settled(): Promise<void> {
      await Promise.all(rereads.pendingAll());
      await Promise.all([...agents.values()].map((s) => s.chain));
    },
  };
}
export type AssignmentService = ReturnType<typeof createAssignmentService>;
