import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Failure } from '../shared/failures.ts';
import { PG_INT_MAX } from '../shared/metrics.ts';
import type { PollJob as WireJob, ResultItem } from '../shared/protocol/index.ts';
import type { CredentialSealer } from './hub/credential-sealer.ts';
import type { Hub } from './hub/hub.ts';
import type { Log } from './log.ts';
import type { PollResult } from './metrics/poll-result.ts';
import type { PollJob, TimedOutJob } from './scheduler/scheduler.ts';

/** PostgreSQL text cannot hold NUL; a plugin's or host's message may contain one. */
const withoutNul = (f: Failure): Failure =>
  f.message.includes('\0') || f.code?.includes('\0') ? { ...f, message: f.message.replaceAll('\0', ''), ...(f.code !== undefined ? { code: f.code.replaceAll('\0', '') } : {}) } : f;

/**
 * Turns scheduler jobs into wire jobs (plugin + sealed credential, both cached) and agent results
 * into writer rows. The only place that knows both the scheduler's and the protocol's job shapes.
 */
export function createPollPipeline(o: {
  pool: pg.Pool;
  hub: Hub;
  sealer: CredentialSealer;
  log: Log;
  /** Jobs that were claimed but never sent, each with the failure to record for it. */
  onUnsent?: (jobs: { job_id: string; result: PollResult }[]) => void;
}) {
  const plugins = new Map<number, { at: number; value: { type: string; config: unknown } }>();
  const pluginOf = async (id: number) => {
    const hit = plugins.get(id);
    if (hit && Date.now() - hit.at < 30_000) return hit.value;
    const r = await o.pool.query<{ type: string; config: unknown }>('SELECT type, config FROM plugins WHERE id = $1', [id]);
    const value = r.rows[0] ?? { type: 'windows-wmi', config: {} };
    plugins.set(id, { at: Date.now(), value });
    return value;
  };

  // Monitor ids known to be on each agent's devices (a device never changes agent), re-read after a minute.
  const ownership = new Map<number, { at: number; ids: Set<number> }>();
  const ownedMonitors = async (agentId: number, items: ResultItem[]): Promise<Set<number>> => {
    let known = ownership.get(agentId);
    if (!known || Date.now() - known.at > 60_000) ownership.set(agentId, (known = { at: Date.now(), ids: new Set() }));
    const ids = known.ids;
    // An id beyond PostgreSQL's integer is no monitor at all (and would fail the ::int[] cast).
    const unknown = [...new Set(items.map((r) => r.monitor_id).filter((id) => !ids.has(id) && id <= PG_INT_MAX))];
    if (unknown.length > 0) {
      const r = await o.pool.query<{ id: number }>(
        'SELECT m.id FROM monitors m JOIN devices d ON d.id = m.device_id WHERE d.agent_id = $1 AND m.id = ANY($2::int[])',
        [agentId, unknown],
      );
      for (const row of r.rows) ids.add(row.id);
    }
    return ids;
  };

  return {
    /**
     * Scheduler → hub. Claims room in the agent's window now (so the next call cannot count the
     * same room) and sends once credentials are sealed. A job that cannot be prepared gives its
     * room back and is reported at once as an internal failure, not left to time out.
     */
    dispatch(agentId: number, jobs: PollJob[]): number {
      const room = o.hub.claim(agentId, jobs);
      if (room <= 0) return 0;
      const batch = jobs.slice(0, room);
      void (async () => {
        const wire: WireJob[] = [];
        const unsent: { job: PollJob; cls: 'internal' | 'agent_offline'; why: string }[] = [];
        for (const j of batch) {
          try {
            const [plugin, credential] = await Promise.all([pluginOf(j.plugin_id), o.sealer.seal(agentId, j.credential_profile_id)]);
            wire.push({ job_id: j.job_id, monitor_id: j.monitor_id, deadline: j.deadline, target: { ip: j.ip, port: j.port, use_ssl: j.use_ssl }, plugin: { type: plugin.type, config: plugin.config ?? {} }, credential });
          } catch (err) {
            o.log.warn({ err: (err as Error).message, monitor_id: j.monitor_id }, 'could not prepare a poll job');
            unsent.push({ job: j, cls: 'internal', why: 'the server could not prepare the job (plugin or credential unavailable)' });
          }
        }
        if (wire.length) {
          for (const w of o.hub.sendClaimed(agentId, wire)) unsent.push({ job: batch.find((j) => j.job_id === w.job_id)!, cls: 'agent_offline', why: 'the agent disconnected before the job was sent' });
        }
        if (unsent.length) {
          o.hub.release(agentId, unsent.map((u) => u.job.job_id));
          o.onUnsent?.(unsent.map(({ job, cls, why }) => ({ job_id: job.job_id, result: { monitor_id: job.monitor_id, time: new Date(job.due), ok: false as const, failure: { class: cls, message: why } } })));
        }
      })();
      return room;
    },
    /**
     * The results for monitors on this agent's devices: an enrolled agent must not be able to
     * write another site's metrics, push its monitors toward "down" or settle its jobs.
     */
    async ownResults(agentId: number, items: ResultItem[]): Promise<ResultItem[]> {
      const owned = await ownedMonitors(agentId, items);
      const foreign = items.filter((r) => !owned.has(r.monitor_id));
      if (foreign.length === 0) return items;
      o.log.warn({ agent_id: agentId, dropped: foreign.length, monitor_ids: [...new Set(foreign.map((r) => r.monitor_id))].slice(0, 10) }, 'dropped results for monitors that are not on this agent');
      return items.filter((r) => owned.has(r.monitor_id));
    },
    /** Agent results → writer rows. */
    toPollResults(items: ResultItem[]): PollResult[] {
      return items.map((r) =>
        'metrics' in r
          ? { monitor_id: r.monitor_id, time: new Date(r.time), agent_seq: r.seq, ok: true as const, sample: r.metrics }
          : { monitor_id: r.monitor_id, time: new Date(r.time), agent_seq: r.seq, ok: false as const, failure: withoutNul(r.failure) },
      );
    },
    timeoutResults(jobs: TimedOutJob[]): PollResult[] {
      return jobs.map((j) => ({ monitor_id: j.monitor_id, time: new Date(j.due), ok: false as const, failure: { class: 'timeout' as const, message: 'no result came back from the agent before the job deadline' } }));
    },
    newJobId: () => randomUUID(),
  };
}
