import { CloseCode, type ServerMessage } from '../../shared/protocol/index.ts';

/** What the registry keeps of a welcomed session. */
export interface ConnectedAgent {
  readonly agentId: number;
  /** Unique per session in this process: tells a reconnect from the session it replaced. */
  readonly connection: number;
  readonly sealPublicKey: string;
  send(msg: ServerMessage): boolean;
  close(code: number, reason: string): void;
}

/**
 * The agents connected now, one session each. Everything that talks to agents (assignments,
 * on-demand polls, discovery) goes through this; the hub adds and removes sessions.
 */
export interface AgentRegistry {
  /** Makes `s` the agent's session; returns the one it replaced, if any. */
  add(s: ConnectedAgent): ConnectedAgent | undefined;
  /** Removes `s` if it is still the agent's session; returns whether it was. */
  remove(s: ConnectedAgent): boolean;
  send(agentId: number, msg: ServerMessage): boolean;
  isOnline(agentId: number): boolean;
  /** The current session's connection number, or undefined when offline. */
  connection(agentId: number): number | undefined;
  onlineAgents(): number[];
  sealKey(agentId: number): string | undefined;
  closeAgent(agentId: number, code?: number, reason?: string): void;
}

export function createAgentRegistry(): AgentRegistry {
  const sessions = new Map<number, ConnectedAgent>();
  return {
    add(s) {
      const old = sessions.get(s.agentId);
      sessions.set(s.agentId, s);
      return old !== s ? old : undefined;
    },
    remove(s) {
      if (sessions.get(s.agentId) !== s) return false;
      sessions.delete(s.agentId);
      return true;
    },
    send: (agentId, msg) => sessions.get(agentId)?.send(msg) ?? false,
    isOnline: (agentId) => sessions.has(agentId),
    connection: (agentId) => sessions.get(agentId)?.connection,
    onlineAgents: () => [...sessions.keys()],
    sealKey: (agentId) => sessions.get(agentId)?.sealPublicKey,
    closeAgent(agentId, code = CloseCode.agentDisabled, reason = 'agent disabled') {
      sessions.get(agentId)?.close(code, reason);
    },
  };
}
