import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type pg from 'pg';
import { WebSocketServer } from 'ws';
import { type AgentHealth, CloseCode } from '../../shared/protocol/index.ts';
import type { EventBus } from '../events.ts';
import { authenticateAgent } from './agent-auth.ts';
import type { AgentHandlers } from './handlers/handler.ts';
import type { AgentRegistry } from './registry.ts';
import { AgentSession, type HubLog, type SessionHost } from './session.ts';
import { MAX_FRAME_BYTES } from './session-limits.ts';

/** Where the hub records agents' presence: the agents service (server/services/agents.ts). */
export interface AgentPresence {
  recordOnline(agentId: number, p: { version: string; hostname: string }): Promise<unknown>;
  recordSeen(agentId: number): Promise<unknown>;
  recordHealth(agentId: number, health: AgentHealth): Promise<unknown>;
}

export interface HubOptions {
  /** Read to authenticate agents (server/hub/agent-auth.ts). */
  pool: pg.Pool;
  presence: AgentPresence;
  log: HubLog;
  registry: AgentRegistry;
  events: EventBus;
  handlers: AgentHandlers;
  heartbeatMs: number;
  authTimeoutMs: number;
  /** Sockets (authenticated or not) beyond which new ones get 503 + Retry-After. */
  maxConnections: number;
  retryAfterSeconds: number;
  /** Bytes a session's socket may hold unsent before it is closed with 4029 'not reading' (agents.max_unsent_mb). */
  maxUnsentBytes: number;
  /** Told of every heartbeat's health and of deleted agents (Prometheus: server/observability). */
  recorder?: {
    agentHealth(agentId: number, name: string, health: AgentHealth): void;
    agentDeleted(agentId: number): void;
  };
}

export interface Hub {
  /** Takes an HTTP upgrade for `/agent`; returns false for other paths (the caller handles them). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Closes the agent's session (disabled, deleted) with the given code. */
  closeAgent(agentId: number, code?: number, reason?: string): void;
  connections(): number;
  stop(): Promise<void>;
}

/**
 * The WebSocket endpoint agents dial. Sessions that pass the hello join the registry and are
 * announced on the event bus (agent.online / agent.offline); their messages go to `handlers`.
 * Presence (last_seen, version, hostname, health) is recorded through `presence`, health throttled per agent.
 */
export function createHub(o: HubOptions): Hub {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
  const sockets = new Set<AgentSession>();
  const lastHealthWrite = new Map<number, number>();

  const presenceWrite = (id: number, write: Promise<unknown>): void =>
    void write.catch((err: Error) => o.log.warn({ err: err.message, agent_id: id }, 'presence update failed'));

  const host: SessionHost = {
    log: o.log,
    heartbeatMs: o.heartbeatMs,
    authTimeoutMs: o.authTimeoutMs,
    maxUnsentBytes: o.maxUnsentBytes,
    handlers: o.handlers,
    authenticate: (token) => authenticateAgent(o.pool, token),
    welcomed(s, hello) {
      const replaced = o.registry.add(s);
      if (replaced) {
        replaced.close(CloseCode.replaced, 'replaced by a newer connection of this agent');
        o.events.emit('agent.offline', { id: replaced.agentId, connection: replaced.connection });
      }
      presenceWrite(s.agentId, o.presence.recordOnline(s.agentId, hello));
      o.events.emit('agent.online', { id: s.agentId, connection: s.connection });
    },
    closed(s) {
      sockets.delete(s);
      if (!o.registry.remove(s)) return;
      // The next session's first report is written at once (and a deleted agent leaves nothing behind).
      lastHealthWrite.delete(s.agentId);
      presenceWrite(s.agentId, o.presence.recordSeen(s.agentId));
      o.events.emit('agent.offline', { id: s.agentId, connection: s.connection });
    },
    heartbeat(s, health) {
      if (s.agent) o.recorder?.agentHealth(s.agentId, s.agent.name, health);
      const now = Date.now();
      if (now - (lastHealthWrite.get(s.agentId) ?? 0) < o.heartbeatMs / 2) return;
      lastHealthWrite.set(s.agentId, now);
      presenceWrite(s.agentId, o.presence.recordHealth(s.agentId, health));
    },
  };

  // An agent disabled, deleted or enrolled again with new keys loses its session at once.
  const unsubscribe = [
    o.events.on('agent.disabled', (e) => o.registry.closeAgent(e.id, CloseCode.agentDisabled, 'agent disabled')),
    o.events.on('agent.deleted', (e) => {
      o.registry.closeAgent(e.id, CloseCode.unauthorized, 'agent deleted');
      o.recorder?.agentDeleted(e.id);
    }),
    o.events.on('agent.reenrolled', (e) =>
      o.registry.closeAgent(e.id, CloseCode.replaced, 'the agent enrolled again with new keys'),
    ),
  ];

  return {
    handleUpgrade(req, socket, head) {
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/agent') return false;
      if (sockets.size >= o.maxConnections) {
        socket.end(
          `HTTP/1.1 503 Service Unavailable\r\nRetry-After: ${o.retryAfterSeconds}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
        );
        return true;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        const s = new AgentSession(ws, req.socket.remoteAddress ?? '?', host);
        sockets.add(s);
        ws.once('close', () => sockets.delete(s));
      });
      return true;
    },
    closeAgent: (agentId, code, reason) => o.registry.closeAgent(agentId, code, reason),
    connections: () => sockets.size,
    async stop() {
      for (const u of unsubscribe) u();
      for (const s of [...sockets]) s.close(CloseCode.goingAway, 'server shutting down');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
