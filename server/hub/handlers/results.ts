import type { Failure } from '../../../shared/failures.ts';
import { CloseCode, type ResultItem } from '../../../shared/protocol/index.ts';
import type { Log } from '../../log.ts';
import type { PollResult } from '../../metrics/poll-result.ts';
import { WriterBusyError } from '../../metrics/write.ts';
import type { AgentHandlers } from './handler.ts';

/** PostgreSQL text cannot hold NUL; a plugin's or host's message may contain one. */
const withoutNul = (f: Failure): Failure =>
  f.message.includes('\0') || f.code?.includes('\0')
    ? {
        ...f,
        message: f.message.replaceAll('\0', ''),
        ...(f.code !== undefined ? { code: f.code.replaceAll('\0', '') } : {}),
      }
    : f;

const toPollResult = (r: ResultItem): PollResult => {
  const base = {
    monitor_id: r.monitor_id,
    time: new Date(r.time),
    agent_seq: r.seq,
    source: 'agent' as const,
    ...(r.attempts !== undefined ? { attempts: r.attempts } : {}),
  };
  return 'metrics' in r
    ? { ...base, ok: true as const, sample: r.metrics }
    : { ...base, ok: false as const, failure: withoutNul(r.failure) };
};

/**
 * results.batch: the results of monitors in the agent's current assignment set are stored through
 * the metrics writer; the whole batch is acknowledged after that commit (results for monitors the
 * agent no longer has are acknowledged and dropped). A failed commit closes the session so the
 * agent resends; a batch the busy writer refused (WriterBusyError) too, logged as a warning.
 */
export function createResultsHandler(o: {
  assignments: { ownResults(agentId: number, items: readonly ResultItem[]): Promise<ResultItem[]> };
  writer: { write(results: readonly PollResult[]): Promise<void> };
  tracker: { observe(monitorId: number, time: Date): void };
  log: Log;
  recorder?: { resultsReceived(count: number): void };
}): AgentHandlers['results.batch'] {
  return async (ctx, msg) => {
    o.recorder?.resultsReceived(msg.results.length);
    const seqs = msg.results.map((r) => r.seq);
    let owned: ResultItem[];
    try {
      owned = await o.assignments.ownResults(ctx.agentId, msg.results);
      if (owned.length > 0) await o.writer.write(owned.map(toPollResult));
    } catch (err) {
      const fields = { err: (err as Error).message, agent_id: ctx.agentId, count: seqs.length };
      // Back-pressure, expected under load: the writer's queue stayed full.
      if (err instanceof WriterBusyError)
        o.log.warn(fields, 'the metrics writer is busy; the agent will resend the results');
      else o.log.error(fields, 'storing results failed; the agent will resend them');
      ctx.close(CloseCode.serverError, 'results could not be stored; resend');
      return;
    }
    for (const r of owned) o.tracker.observe(r.monitor_id, new Date(r.time));
    ctx.send({ type: 'results.ack', seqs });
  };
}
