import type { SealedCredential, ServerMessage } from '../../shared/protocol/index.ts';

/**
 * How a service reaches the agents without knowing the hub: the composition root (server/server.ts)
 * builds it from the hub's registry and credential sealer.
 */
export interface AgentGateway {
  isOnline(agentId: number): boolean;
  /** False when the agent is not connected (nothing was sent). */
  send(agentId: number, msg: ServerMessage): boolean;
  /** The credential profile's secret sealed to the agent's key (JWE): only that agent can open it. */
  sealFor(agentId: number, credentialProfileId: number): Promise<SealedCredential>;
}
