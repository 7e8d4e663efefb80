import type { AgentHandlers } from './handler.ts';

/** schedule.ack and schedule.resync: the agent's side of its assignment set. */
export function createScheduleHandlers(assignments: {
  acknowledged(agentId: number, connection: number, revision: number): void;
  resync(agentId: number, connection: number, have: number | null, reason: string): void;
}): Pick<AgentHandlers, 'schedule.ack' | 'schedule.resync'> {
  return {
    'schedule.ack': (ctx, msg) => assignments.acknowledged(ctx.agentId, ctx.connection, msg.revision),
    'schedule.resync': (ctx, msg) => assignments.resync(ctx.agentId, ctx.connection, msg.have, msg.reason),
  };
}
