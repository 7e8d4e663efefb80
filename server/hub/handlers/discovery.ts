import type { AgentHandlers } from './handler.ts';

type Progress = Parameters<AgentHandlers['discovery.progress']>[1];
type Result = Parameters<AgentHandlers['discovery.result']>[1];

/** discovery.progress and discovery.result: on-demand discovery runs. */
export function createDiscoveryHandlers(runs: {
  onProgress(agentId: number, msg: Progress): void;
  onResult(agentId: number, msg: Result): Promise<void>;
}): Pick<AgentHandlers, 'discovery.progress' | 'discovery.result'> {
  return {
    'discovery.progress': (ctx, msg) => runs.onProgress(ctx.agentId, msg),
    // Failures are recorded on the run itself; the session is not closed over them.
    'discovery.result': (ctx, msg) => void runs.onResult(ctx.agentId, msg),
  };
}
