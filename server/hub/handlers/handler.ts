import type { AgentMessage, ServerMessage } from '../../../shared/protocol/index.ts';

/** The session a message came from, as a handler sees it. */
export interface AgentContext {
  readonly agentId: number;
  readonly connection: number;
  send(msg: ServerMessage): boolean;
  close(code: number, reason: string): void;
}

/** Messages the session answers itself: the handshake and heartbeats. */
type SessionMessage = 'hello' | 'heartbeat' | 'heartbeat.ack';
export type HandledMessage = Exclude<AgentMessage, { type: SessionMessage }>;
export type HandledType = HandledMessage['type'];

/**
 * One handler per agent message type, called only for authenticated sessions, in arrival order.
 * A returned promise that rejects closes the session with a server error (the agent reconnects
 * and resends what was not acknowledged).
 */
export type AgentHandlers = {
  [T in HandledType]: (ctx: AgentContext, msg: Extract<HandledMessage, { type: T }>) => void | Promise<void>;
};
