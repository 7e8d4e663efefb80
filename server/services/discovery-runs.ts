import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { DiscoveredHost } from '../../shared/protocol/index.ts';
import type { Db } from '../db/client.ts';
import { plugins } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import type { EventBus } from '../events.ts';
import type { Log } from '../log.ts';
import { checkTarget } from '../../shared/targets.ts';
import { SYSTEM_DISCOVERY } from '../audit/actor.ts';
import { auditChanges, recordAudit } from '../audit/audit-log.ts';
import type { AgentGateway } from './agent-gateway.ts';
import { screenHosts } from './discovered-hosts.ts';
import { deviceToApi, type Device, type DeviceService } from './devices.ts';
import type { MonitorService } from './monitors.ts';

export interface DiscoveryRun {
  run_id: string;
  discovery_profile_id: number;
  agent_id: number;
  status: 'running' | 'completed' | 'failed' | 'cancelled';
  scanned: number;
  total: number;
  found: number;
  devices: Device[];
  provisioned_monitors: number;
  error: string | null;
  started_at: string;
  finished_at: string | null;
}

export interface DiscoveryRunDeps {
  db: Db;
  /** Found hosts become devices, and auto-provisioned monitors, through their services (one transaction per part). */
  devices: Pick<DeviceService, 'recordDiscovered' | 'announce'>;
  monitors: Pick<MonitorService, 'provision'>;
  agents: AgentGateway;
  events: EventBus;
  log: Log;
  getProfile: (id: number) => Promise<{
    id: number;
    agent_id: number;
    credential_profile_id: number;
    target: string;
    port_scan: boolean;
    auto_provision: boolean;
    plugin_id: number | null;
    polling_interval: number;
    authenticate_unverified?: boolean;
  }>;
  getCredential: (id: number) => Promise<{ port: number; use_ssl: boolean }>;
  waitMs: number;
  runTimeoutMs: number;
}

/**
 * Discovery runs on the profile's agent; results are upserted per (agent, ip). One run per profile
 * at a time. Runs live in memory: a server restart fails the runs in progress (the agent's result
 * for an unknown run is ignored), which the user sees as a 404 and simply runs again.
 */
export function createDiscoveryRunService(d: DiscoveryRunDeps) {
  // `parts`: result parts arrive in order but are stored one after another (each is a transaction).
  const runs = new Map<
    string,
    DiscoveryRun & {
      done: Promise<void>;
      finish: () => void;
      timer: NodeJS.Timeout;
      parts: Promise<void>;
      partial: boolean;
      ranges: [number, number][];
    }
  >();
  const byProfile = new Map<number, string>();
  const known = (runId: string) => {
    const r = runs.get(runId);
    if (!r) throw new AppError('NOT_FOUND', 'Discovery run not found', { run_id: runId });
    return r;
  };

  const publicView = (r: DiscoveryRun): DiscoveryRun => ({
    run_id: r.run_id,
    discovery_profile_id: r.discovery_profile_id,
    agent_id: r.agent_id,
    status: r.status,
    scanned: r.scanned,
    total: r.total,
    found: r.found,
    devices: r.devices,
    provisioned_monitors: r.provisioned_monitors,
    error: r.error,
    started_at: r.started_at,
    finished_at: r.finished_at,
  });

  function end(id: string, status: DiscoveryRun['status'], error: string | null): void {
    const r = runs.get(id);
    if (r?.status !== 'running') return;
    r.status = status;
    r.error = error;
    r.finished_at = new Date().toISOString();
    clearTimeout(r.timer);
    byProfile.delete(r.discovery_profile_id);
    r.finish();
    setTimeout(() => runs.delete(id), 3600_000).unref();
  }

  /** Stores one result part; `append` adds to the parts stored before instead of replacing them. */
  async function store(run: DiscoveryRun, hosts: DiscoveredHost[], append: boolean): Promise<void> {
    const profile = await d.getProfile(run.discovery_profile_id).catch(() => undefined);
    const { stored, provisioned } = await d.db.transaction(async (tx) => {
      const plugin = !profile?.auto_provision
        ? undefined
        : (profile.plugin_id ??
          (await tx.select({ id: plugins.id }).from(plugins).where(eq(plugins.name, 'windows-wmi')))[0]?.id);
      // A new host that gets a monitor is active at once; otherwise it waits as 'discovered'.
      const stored = await d.devices.recordDiscovered(tx, {
        agent_id: run.agent_id,
        discovery_profile_id: profile ? run.discovery_profile_id : null,
        createdStatus: plugin ? 'active' : 'discovered',
        hosts,
      });
      let provisioned = 0;
      if (profile && plugin)
        for (const s of stored.filter((x) => x.created)) {
          await d.monitors.provision(
            tx,
            {
              device_id: s.row.id,
              credential_profile_id: profile.credential_profile_id,
              plugin_id: plugin,
              polling_interval: profile.polling_interval,
            },
            SYSTEM_DISCOVERY,
          );
          provisioned++;
        }
      return { stored, provisioned };
    });
    const devices = stored.map((s) => deviceToApi(s.row));
    run.devices = append ? run.devices.concat(devices) : devices;
    run.found = run.devices.length;
    run.provisioned_monitors = (append ? run.provisioned_monitors : 0) + provisioned;
    for (const s of stored) d.devices.announce(s.effects);
    // Only a part that created monitors changes the agent's assignments.
    if (provisioned > 0) d.events.emit('monitor.changed', { id: 0, agent_id: run.agent_id });
  }

  return {
    /** Waits up to `waitMs` for the run to end; the run as it stands then (the API answers 202 while it runs). */
    async start(profileId: number): Promise<DiscoveryRun> {
      const p = await d.getProfile(profileId);
      // A profile stored before the target rules were this strict is refused here, not scanned.
      const target = checkTarget(p.target);
      if (!target.ok)
        throw new AppError('VALIDATION_ERROR', `target: ${target.reason}`, {
          field: 'target',
          reason: target.reason,
          discovery_profile_id: profileId,
        });
      if (!d.agents.isOnline(p.agent_id))
        throw new AppError('UNAVAILABLE', "no agent connected: the discovery profile's agent is offline", {
          agent_id: p.agent_id,
        });
      if (byProfile.has(profileId))
        throw new AppError('CONFLICT', 'a discovery run for this profile is already in progress', {
          run_id: byProfile.get(profileId),
        });
      // Claimed before the first await: two starts of one profile at once must not both pass the check.
      const run_id = randomUUID();
      byProfile.set(profileId, run_id);
      let cred: Awaited<ReturnType<typeof d.getCredential>>;
      let sealed: Awaited<ReturnType<typeof d.agents.sealFor>>;
      try {
        cred = await d.getCredential(p.credential_profile_id);
        sealed = await d.agents.sealFor(p.agent_id, p.credential_profile_id);
        await recordAudit(d.db, {
          entity_type: 'discovery_profile',
          entity_id: profileId,
          action: 'run',
          changes: auditChanges('discovery_profile', null, { run_id }),
        });
      } catch (err) {
        byProfile.delete(profileId);
        throw err;
      }
      let finish = () => {};
      const done = new Promise<void>((r) => (finish = r));
      const run = {
        run_id,
        discovery_profile_id: profileId,
        agent_id: p.agent_id,
        status: 'running' as const,
        scanned: 0,
        // The target as the agent will count it (shared/targets.ts); the agent's progress reports the same number.
        total: target.count,
        found: 0,
        devices: [],
        provisioned_monitors: 0,
        error: null,
        started_at: new Date().toISOString(),
        finished_at: null,
        done,
        finish,
        parts: Promise.resolve(),
        partial: false,
        ranges: target.ranges,
        timer: setTimeout(
          () => end(run_id, 'failed', 'the agent did not finish the discovery in time'),
          d.runTimeoutMs,
        ),
      };
      run.timer.unref();
      runs.set(run_id, run);
      const sent = d.agents.send(p.agent_id, {
        type: 'discovery.start',
        job: {
          run_id,
          target: p.target,
          port_scan: p.port_scan,
          credential: sealed,
          winrm_port: cred.port,
          use_ssl: cred.use_ssl,
          authenticate_unverified: p.authenticate_unverified === true,
        },
      });
      if (!sent) {
        end(run_id, 'failed', 'the agent disconnected');
        throw new AppError('UNAVAILABLE', "no agent connected: the discovery profile's agent is offline", {
          agent_id: p.agent_id,
        });
      }
      await Promise.race([done, new Promise<void>((r) => setTimeout(r, d.waitMs).unref())]);
      return publicView(runs.get(run_id)!);
    },
    get: (runId: string): DiscoveryRun => publicView(known(runId)),
    cancel(runId: string): DiscoveryRun {
      const r = known(runId);
      if (r.status === 'running') d.agents.send(r.agent_id, { type: 'discovery.cancel', run_id: runId });
      return publicView(r);
    },
    onProgress(agentId: number, m: { run_id: string; scanned: number; total: number; found: number }): void {
      const r = runs.get(m.run_id);
      if (!r || r.agent_id !== agentId || r.status !== 'running') return;
      r.scanned = m.scanned;
      r.total = m.total;
      r.found = m.found;
    },
    onResult(
      agentId: number,
      m: {
        run_id: string;
        scanned: number;
        total: number;
        devices: DiscoveredHost[];
        more?: boolean | undefined;
        cancelled?: boolean | undefined;
        error?: { message: string } | undefined;
      },
    ): Promise<void> {
      const r = runs.get(m.run_id);
      if (!r || r.agent_id !== agentId || r.status !== 'running') return Promise.resolve();
      r.parts = r.parts.then(async () => {
        if (r.status !== 'running') return;
        r.scanned = m.scanned;
        r.total = m.total;
        if (m.error) return end(m.run_id, 'failed', m.error.message);
        try {
          const screened = screenHosts(m.devices, r.ranges);
          if (screened.refused)
            d.log.warn(
              {
                run_id: m.run_id,
                agent_id: agentId,
                refused: screened.refused,
                accepted: screened.accepted.length,
                reasons: screened.reasons,
              },
              'discovery result: hosts outside the target or malformed were refused (not stored)',
            );
          await store(r, screened.accepted, r.partial);
          r.partial = true;
          if (!m.more) end(m.run_id, m.cancelled ? 'cancelled' : 'completed', null);
        } catch (err) {
          d.log.error({ err: (err as Error).message, run_id: m.run_id }, 'storing discovered devices failed');
          end(m.run_id, 'failed', 'storing the discovered devices failed');
        }
      });
      return r.parts;
    },
    onAgentOffline(agentId: number): void {
      for (const r of runs.values())
        if (r.agent_id === agentId && r.status === 'running')
          end(r.run_id, 'failed', 'the agent disconnected during the discovery');
    },
  };
}
export type DiscoveryRunService = ReturnType<typeof createDiscoveryRunService>;
