import type { AgentHandlers } from './handler.ts';
import { createDiscoveryHandlers } from './discovery.ts';
import { createPollResultHandler } from './poll-result.ts';
import { createResultsHandler } from './results.ts';
import { createScheduleHandlers } from './schedule.ts';

export type { AgentContext, AgentHandlers } from './handler.ts';

type Deps = Parameters<typeof createResultsHandler>[0] & {
  assignments: Parameters<typeof createScheduleHandlers>[0];
  polls: Parameters<typeof createPollResultHandler>[0];
  discoveryRuns: Parameters<typeof createDiscoveryHandlers>[0];
};

/** The hub's handler map: one entry per agent message type (the session answers hello and heartbeats). */
export function createAgentHandlers(d: Deps): AgentHandlers {
  return {
    'results.batch': createResultsHandler(d),
    ...createScheduleHandlers(d.assignments),
    'poll.result': createPollResultHandler(d.polls),
    ...createDiscoveryHandlers(d.discoveryRuns),
  };
}
