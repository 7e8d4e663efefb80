import { join } from 'node:path';
import type { AgentConfig } from './config.ts';
import type { AgentIdentity } from './identity.ts';
import { SCHEDULE_FILE, readScheduleSummary } from './schedule/assignment-store.ts';
import { STATE_FILE, readAgentState } from './schedule/offline-state.ts';
import { inspectDiskSpool } from './spool/inspect-spool.ts';
import { describeResult } from './spool/spool.ts';

/**
 * What `nmslite-agent status` reports, read from the agent's files without changing them (the
 * agent may be running): identity, the saved schedule, the offline state, the spool. Field names
 * follow AgentHealth where they mean the same.
 */
export function collectAgentStatus(
  cfg: AgentConfig,
  id: AgentIdentity,
  extra: { version: string; hostname: string },
  now = Date.now(),
) {
  const saved = readScheduleSummary(join(cfg.home, SCHEDULE_FILE));
  const schedule = saved && 'error' in saved ? null : saved;
  const state = readAgentState(join(cfg.home, STATE_FILE));
  const spool = inspectDiskSpool(cfg.spool_dir, describeResult);
  const serverNow = now + (state?.clock_offset_ms ?? 0);
  const offlineSince = state?.offline_since ?? null;
  const overdue = offlineSince !== null && serverNow - offlineSince > cfg.max_offline_hours * 3_600_000;
  const oldest = spool.oldest_time === null ? null : Date.parse(spool.oldest_time);
  return {
    agent_id: id.agent_id,
    name: id.name,
    server: id.server,
    server_fingerprint: id.server_fingerprint,
    enrolled_at: id.enrolled_at,
    version: extra.version,
    hostname: extra.hostname,
    schedule_revision: schedule?.revision ?? null,
    monitors_assigned: schedule?.monitors ?? 0,
    schedule_saved_at: schedule?.saved_at ?? null,
    /** The saved schedule exists but cannot be read (a running agent still polls from memory and rewrites it with the next revision). */
    ...(saved && 'error' in saved ? { schedule_error: saved.error } : {}),
    offline_since: offlineSince === null ? null : new Date(offlineSince).toISOString(),
    polls_offline: state?.polls_offline ?? 0,
    polling_paused: Boolean(state?.polling_paused) || overdue,
    max_offline_hours: cfg.max_offline_hours,
    clock_offset_ms: state?.clock_offset_ms ?? null,
    spool_backlog: spool.backlog,
    spool_oldest_age_ms: oldest === null || !Number.isFinite(oldest) ? null : Math.max(0, serverNow - oldest),
    spool_evicted: spool.evicted,
    spool,
  };
}
export type AgentStatus = ReturnType<typeof collectAgentStatus>;

const duration = (ms: number): string => {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
};

export function formatAgentStatus(st: AgentStatus, now = Date.now()): string {
  const serverNow = now + (st.clock_offset_ms ?? 0);
  const lines: [string, string][] = [
    ['agent', `${st.agent_id} (${st.name}), version ${st.version} on ${st.hostname}`],
    ['server', `${st.server} (fingerprint ${st.server_fingerprint.slice(0, 16)}…)`],
    [
      'schedule',
      st.schedule_error
        ? `saved schedule unreadable: ${st.schedule_error}`
        : st.schedule_revision === null
          ? 'none received yet'
          : `revision ${st.schedule_revision}, ${st.monitors_assigned} monitors assigned (saved ${st.schedule_saved_at})`,
    ],
    [
      'offline since',
      st.offline_since === null
        ? '- (connected when last saved)'
        : `${st.offline_since} (${duration(Math.max(0, serverNow - Date.parse(st.offline_since)))})`,
    ],
    ['polls offline', String(st.polls_offline)],
    [
      'polling',
      st.polling_paused
        ? `PAUSED: offline for longer than max_offline_hours (${st.max_offline_hours}); resumes when the server is reachable`
        : 'running',
    ],
    [
      'spool',
      `${st.spool_backlog} results waiting (${st.spool.bytes} bytes)${st.spool_oldest_age_ms === null ? '' : `, oldest ${duration(st.spool_oldest_age_ms)} old`}`,
    ],
  ];
  const ev = st.spool.evicted;
  if (ev.records > 0) {
    lines.push([
      'spool evicted',
      `${ev.records} results (oldest first: the spool was full)${ev.ranges_omitted ? `, ${ev.ranges_omitted} ranges not listed` : ''}`,
    ]);
    for (const r of ev.ranges.slice(0, 20))
      lines.push(['', `monitor ${r.monitor_id}: ${r.count} polls from ${r.from} to ${r.to}`]);
    if (ev.ranges.length > 20) lines.push(['', `… ${ev.ranges.length - 20} more ranges (see --json)`]);
  }
  if (st.spool.evicted_error) lines.push(['spool evicted', `unknown: ${st.spool.evicted_error}`]);
  const w = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}
