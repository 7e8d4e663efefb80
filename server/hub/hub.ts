import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type pg from 'pg';
import { WebSocketServer } from 'ws';
import { CloseCode, MAX_MESSAGE_BYTES, type AgentHealth, type AgentMessage, type PollJob, type ResultItem, type ServerMessage } from '../../shared/protocol/index.ts';
import { authenticateAgent } from './agent-auth.ts';
import { AgentSession, type HubLog, type SessionHost } from './session.ts';

export interface HubOptions {
  pool: pg.Pool;
  log: HubLog;
  heartbeatMs?: number;
  authTimeoutMs?: number;
  /** Sockets (authenticated or not) beyond which new ones get 503 + Retry-After. */
  maxConnections?: number;
  retryAfterSeconds?: number;
  /** Added to a job's deadline before its flow-control slot is reclaimed without a result. */
  jobGraceMs?: number;
  /** Must resolve only after the results are committed: the ack follows. */
  onResults: (agentId: number, items: ResultItem[]) => Promise<void>;
  onMessage?: (agentId: number, msg: AgentMessage) => void;
  onOnline?: (agentId: number) => void;
  onOffline?: (agentId: number) => void;
  onWindowOpen?: (agentId: number) => void;
}

export interface Hub {
  /** Takes an HTTP upgrade for `/agent`; returns false for other paths (the caller handles them). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Claims room in the agent's window for up to `jobs.length` jobs, in order; returns how many got room. */
  claim(agentId: number, jobs: readonly { job_id: string; deadline: number }[]): number;
  /** Sends jobs claimed before on the session that claimed them; returns the ones not sent. */
  sendClaimed(agentId: number, jobs: PollJob[]): PollJob[];
  /** Returns claimed room for jobs that will not be sent. */
  release(agentId: number, jobIds: readonly string[]): void;
  window(agentId: number): number;
  send(agentId: number, msg: ServerMessage): boolean;
  isOnline(agentId: number): boolean;
  onlineAgents(): number[];
  sealKey(agentId: number): string | undefined;
  /** Closes the agent's session (disabled, deleted) with the given code. */
  closeAgent(agentId: number, code?: number, reason?: string): void;
  connections(): number;
  stop(): Promise<void>;
}

export function createHub(o: HubOptions): Hub {
  const heartbeatMs = o.heartbeatMs ?? 10_000;
  const maxConnections = o.maxConnections ?? 5000;
  const retryAfter = o.retryAfterSeconds ?? 5;
  const graceMs = o.jobGraceMs ?? 10_000;
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });
  const sessions = new Map<number, AgentSession>();
  const sockets = new Set<AgentSession>();
  const lastPresenceWrite = new Map<number, number>();

  const presenceWrite = (id: number, sql: string, params: unknown[]): void => {
    o.pool.query(sql, params).catch((err: Error) => o.log.warn({ err: err.message, agent_id: id }, 'presence update failed'));
  };

  const host: SessionHost = {
    log: o.log,
    heartbeatMs,
    authTimeoutMs: o.authTimeoutMs ?? 5000,
    authenticate: (token) => authenticateAgent(o.pool, token),
    register(s) {
      const id = s.agent!.id;
      const old = sessions.get(id);
      sessions.set(id, s);
      if (old && old !== s) old.close(CloseCode.replaced, 'replaced by a newer connection of this agent');
      o.onOnline?.(id);
    },
    unregister(s) {
      sockets.delete(s);
      const id = s.agent?.id;
      if (id === undefined || sessions.get(id) !== s) return;
      sessions.delete(id);
      presenceWrite(id, 'UPDATE agents SET last_seen = now() WHERE id = $1', [id]);
      o.onOffline?.(id);
    },
    presence(s, hello, health: AgentHealth | undefined) {
      const id = s.agent!.id;
      if (hello) {
        presenceWrite(id, 'UPDATE agents SET last_seen = now(), version = $2, hostname = $3 WHERE id = $1', [id, hello.version, hello.hostname]);
        return;
      }
      const now = Date.now();
      if (now - (lastPresenceWrite.get(id) ?? 0) < heartbeatMs / 2) return;
      lastPresenceWrite.set(id, now);
      presenceWrite(id, 'UPDATE agents SET last_seen = now(), health = $2 WHERE id = $1', [id, JSON.stringify(health ?? null)]);
    },
    results: (s, items) => o.onResults(s.agent!.id, items),
    other: (s, msg) => o.onMessage?.(s.agent!.id, msg),
    windowOpen: (s) => o.onWindowOpen?.(s.agent!.id),
  };

  return {
    handleUpgrade(req, socket, head) {
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/agent') return false;
      if (sockets.size >= maxConnections) {
        socket.end(`HTTP/1.1 503 Service Unavailable\r\nRetry-After: ${retryAfter}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        return true;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        const s = new AgentSession(ws, req.socket.remoteAddress ?? '?', host);
        sockets.add(s);
        ws.once('close', () => sockets.delete(s));
      });
      return true;
    },
    claim: (agentId, jobs) => sessions.get(agentId)?.claim(jobs, graceMs) ?? 0,
    sendClaimed: (agentId, jobs) => sessions.get(agentId)?.sendClaimed(jobs) ?? jobs,
    release: (agentId, jobIds) => sessions.get(agentId)?.release(jobIds),
    window: (agentId) => sessions.get(agentId)?.window() ?? 0,
    send: (agentId, msg) => sessions.get(agentId)?.send(msg) ?? false,
    isOnline: (agentId) => sessions.get(agentId)?.ready ?? false,
    onlineAgents: () => [...sessions.keys()],
    sealKey: (agentId) => sessions.get(agentId)?.agent?.seal_public_key,
    closeAgent(agentId, code = CloseCode.agentDisabled, reason = 'agent disabled') {
      sessions.get(agentId)?.close(code, reason);
    },
    connections: () => sockets.size,
    async stop() {
      for (const s of [...sockets]) s.close(CloseCode.goingAway, 'server shutting down');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
