import type { AgentHandlers } from './handler.ts';

/** poll.result: the answer to an on-demand poll (never stored). */
export function createPollResultHandler(polls: {
  settle(agentId: number, msg: Parameters<AgentHandlers['poll.result']>[1]): void;
}): AgentHandlers['poll.result'] {
  return (ctx, msg) => polls.settle(ctx.agentId, msg);
}
