import { randomUUID } from 'node:crypto';
import type { Failure } from '../../shared/failures.ts';
import type { AgentMessage, SealedCredential, ServerMessage } from '../../shared/protocol/index.ts';
import { AppError, notFound } from '../errors.ts';
import type { EventBus } from '../events.ts';
import type { Log } from '../log.ts';
import { toPoint, type MetricsPoint } from '../metrics/query.ts';
import type { AssignmentStore } from './assignment-store.ts';

export type PollNowResult =
  | { monitor_id: number; time: string; ok: true; attempts: number; metrics: MetricsPoint }
  | { monitor_id: number; time: string; ok: false; attempts: number; failure: Failure };

type PollResultMessage = Extract<AgentMessage, { type: 'poll.result' }>;

interface Pending {
  agentId: number;
  connection: number;
  monitorId: number;
  started: Date;
  timer: NodeJS.Timeout;
  resolve: (r: PollNowResult) => void;
}

export interface OnDemandOptions {
  store: Pick<AssignmentStore, 'loadMonitor'>;
  links: { send(agentId: number, msg: ServerMessage): boolean; connection(agentId: number): number | undefined };
  sealer: { sealRef(agentId: number, ref: { profile_id: number; version: number }): Promise<SealedCredential> };
  events: EventBus;
  log: Log;
  /** Most on-demand polls in flight per agent; beyond it the API answers 429. */
  perAgent: number;
  /** Waited beyond the poll's own timeout before answering `timeout`. */
  marginMs: number;
}

/**
 * POST /monitors/:id/poll: one poll now through the monitor's agent (poll.now), answered with what
 * it collected or why it failed. Never stored. A disabled monitor, or one on an inactive device,
 * can still be polled this way.
 */
export function createOnDemandPolls(o: OnDemandOptions) {
  const pending = new Map<string, Pending>();
  const perAgent = new Map<number, number>();

  const finish = (requestId: string, r: PollNowResult): void => {
    const p = pending.get(requestId);
    if (!p) return;
    pending.delete(requestId);
    clearTimeout(p.timer);
    const n = (perAgent.get(p.agentId) ?? 1) - 1;
    if (n > 0) perAgent.set(p.agentId, n);
    else perAgent.delete(p.agentId);
    p.resolve(r);
  };

  const failed = (monitorId: number, started: Date, cls: Failure['class'], message: string): PollNowResult => ({
    monitor_id: monitorId,
    time: started.toISOString(),
    ok: false,
    attempts: 0,
    failure: { class: cls, message },
  });

  const offListener = o.events.on('agent.offline', (e) => {
    for (const [id, p] of pending)
      if (p.agentId === e.id && p.connection === e.connection)
        finish(id, failed(p.monitorId, p.started, 'agent_offline', 'the agent disconnected before answering'));
  });

  return {
    async poll(monitorId: number): Promise<PollNowResult> {
      const m = await o.store.loadMonitor(monitorId);
      if (!m) throw notFound('Monitor', monitorId);
      const started = new Date();
      const agentId = m.agent_id;
      const connection = o.links.connection(agentId);
      if (connection === undefined)
        return failed(monitorId, started, 'agent_offline', "the monitor's agent is not connected");
      const inFlight = perAgent.get(agentId) ?? 0;
      if (inFlight >= o.perAgent) {
        throw new AppError(
          'RATE_LIMITED',
          `too many on-demand polls in progress on this monitor's agent (limit ${o.perAgent}); try again when one finishes`,
          { agent_id: agentId, limit: o.perAgent, retry_after: 1 },
        );
      }
      perAgent.set(agentId, inFlight + 1);
      const requestId = randomUUID();
      return new Promise<PollNowResult>((resolve) => {
        const waitMs = m.assignment.timeout_ms + o.marginMs;
        const timer = setTimeout(
          () =>
            finish(requestId, failed(monitorId, started, 'timeout', `the agent did not answer within ${waitMs} ms`)),
          waitMs,
        );
        timer.unref();
        pending.set(requestId, { agentId, connection, monitorId, started, timer, resolve });
        void (async () => {
          let credential: SealedCredential | null = null;
          try {
            if (m.assignment.credential) credential = await o.sealer.sealRef(agentId, m.assignment.credential);
          } catch (err) {
            o.log.warn(
              { err: (err as Error).message, monitor_id: monitorId },
              'on-demand poll: could not seal the credential',
            );
            return finish(
              requestId,
              failed(monitorId, started, 'internal', 'the server could not seal the credential for the agent'),
            );
          }
          if (
            o.links.connection(agentId) !== connection ||
            !o.links.send(agentId, { type: 'poll.now', request_id: requestId, assignment: m.assignment, credential })
          ) {
            finish(requestId, failed(monitorId, started, 'agent_offline', "the monitor's agent is not connected"));
          }
        })();
      });
    },
    /** poll.result from an agent: answers the request if it was sent to that agent. */
    settle(agentId: number, msg: PollResultMessage): void {
      const p = pending.get(msg.request_id);
      if (!p || p.agentId !== agentId) return;
      finish(
        msg.request_id,
        'metrics' in msg
          ? {
              monitor_id: p.monitorId,
              time: msg.time,
              ok: true,
              attempts: msg.attempts,
              metrics: toPoint({ time: new Date(msg.time), ...msg.metrics }),
            }
          : { monitor_id: p.monitorId, time: msg.time, ok: false, attempts: msg.attempts, failure: msg.failure },
      );
    },
    stop(): void {
      offListener();
      for (const [id, p] of pending)
        finish(id, failed(p.monitorId, p.started, 'agent_offline', 'the server is shutting down'));
    },
  };
}
export type OnDemandPolls = ReturnType<typeof createOnDemandPolls>;
