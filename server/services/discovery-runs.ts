import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { DiscoveredHost, SealedCredential, ServerMessage } from '../../shared/protocol/index.ts';
import { AppError } from '../errors.ts';
import type { EventBus } from '../events.ts';
import type { Log } from '../log.ts';
import { checkTarget } from '../../shared/targets.ts';
import { SYSTEM_DISCOVERY } from '../audit/actor.ts';
import { auditChanges, recordAuditPg, type AuditEntry } from '../audit/audit-log.ts';
import { screenHosts } from './discovered-hosts.ts';
import { deviceToApi, type Device } from './devices.ts';

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

interface Deps {
  pool: pg.Pool;
  /** The connected agents (the hub's registry). */
  hub: { isOnline(agentId: number): boolean; send(agentId: number, msg: ServerMessage): boolean };
  sealer: { seal(agentId: number, profileId: number): Promise<SealedCredential> };
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
export function createDiscoveryRunService(d: Deps) {
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

  /** Upserts one result part; `append` adds to the parts stored before instead of replacing them. */
  async function store(run: DiscoveryRun, hosts: DiscoveredHost[], append: boolean): Promise<void> {
    const profile = await d.getProfile(run.discovery_profile_id).catch(() => undefined);
    const client = await d.pool.connect();
    const reactivated: number[] = [];
    const moved: number[] = [];
    let provisioned = 0;
    try {
      await client.query('BEGIN');
      const devices: Device[] = [];
      const audit: AuditEntry[] = [];
      const monitorAudit: AuditEntry[] = [];
      const before = new Map<string, Record<string, unknown>>();
      for (const o of (
        await client.query('SELECT * FROM devices WHERE agent_id = $1 AND ip = ANY($2::text[])', [
          run.agent_id,
          hosts.map((h) => h.ip),
        ])
      ).rows)
        before.set(o.ip, o);
      for (const h of hosts) {
        const r = await client.query(
          `INSERT INTO devices (agent_id, ip, port, use_ssl, hostname, os, os_version, status, discovery_profile_id, last_seen, discovery_error)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'discovered', $8, now(), $9)
           ON CONFLICT (agent_id, ip) DO UPDATE SET port = EXCLUDED.port, use_ssl = EXCLUDED.use_ssl,
             hostname = COALESCE(EXCLUDED.hostname, devices.hostname), os = COALESCE(EXCLUDED.os, devices.os),
             os_version = COALESCE(EXCLUDED.os_version, devices.os_version), last_seen = now(), updated_at = now(), discovery_error = EXCLUDED.discovery_error,
             discovery_profile_id = COALESCE(devices.discovery_profile_id, EXCLUDED.discovery_profile_id),
             status = CASE WHEN devices.status IN ('inactive', 'unreachable') THEN 'active' ELSE devices.status END
           RETURNING *, (xmax = 0) AS inserted, (SELECT status FROM devices o WHERE o.agent_id = $1 AND o.ip = $2) AS old_status,
             (SELECT port FROM devices o WHERE o.agent_id = $1 AND o.ip = $2) AS old_port, (SELECT use_ssl FROM devices o WHERE o.agent_id = $1 AND o.ip = $2) AS old_use_ssl`,
          [
            run.agent_id,
            h.ip,
            h.port,
            h.use_ssl,
            h.hostname,
            h.os,
            h.os_version,
            profile ? run.discovery_profile_id : null,
            h.error ?? null,
          ],
        );
        let row = r.rows[0];
        if (!row.inserted && ['inactive', 'unreachable'].includes(row.old_status)) reactivated.push(row.id);
        else if (!row.inserted && (row.old_port !== row.port || row.old_use_ssl !== row.use_ssl)) moved.push(row.id);
        if (row.inserted && profile?.auto_provision) {
          const plugin =
            profile.plugin_id ?? (await client.query("SELECT id FROM plugins WHERE name = 'windows-wmi'")).rows[0]?.id;
          if (plugin) {
            const m = (
              await client.query(
                'INSERT INTO monitors (device_id, credential_profile_id, plugin_id, polling_interval) VALUES ($1, $2, $3, $4) RETURNING *',
                [row.id, profile.credential_profile_id, plugin, profile.polling_interval],
              )
            ).rows[0];
            monitorAudit.push({
              entity_type: 'monitor',
              entity_id: m.id,
              action: 'create',
              changes: auditChanges('monitor', null, m),
              by: SYSTEM_DISCOVERY,
            });
            row = (await client.query("UPDATE devices SET status = 'active' WHERE id = $1 RETURNING *", [row.id]))
              .rows[0];
            provisioned++;
          }
        }
        const was = r.rows[0].inserted ? null : (before.get(h.ip) ?? null);
        const changes = auditChanges('device', was, row);
        if (was === null || Object.keys(changes).length)
          audit.push({
            entity_type: 'device',
            entity_id: row.id,
            action: was === null ? 'create' : 'update',
            changes,
            by: SYSTEM_DISCOVERY,
          });
        before.set(h.ip, row);
        devices.push(deviceToApi(row));
      }
      await recordAuditPg(client, [...audit, ...monitorAudit]);
      await client.query('COMMIT');
      run.devices = append ? run.devices.concat(devices) : devices;
      run.found = run.devices.length;
      run.provisioned_monitors = (append ? run.provisioned_monitors : 0) + provisioned;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
    for (const id of reactivated) d.events.emit('device.status_changed', { id, status: 'active' });
    for (const id of moved) d.events.emit('device.changed', { id });
    // Only a part that created monitors changes the agent's assignments.
    if (provisioned > 0) d.events.emit('monitor.changed', { id: 0, agent_id: run.agent_id });
  }

  return {
    async start(profileId: number): Promise<{ status: 200 | 202; body: DiscoveryRun }> {
      const p = await d.getProfile(profileId);
      // A profile stored before the target rules were this strict is refused here, not scanned.
      const target = checkTarget(p.target);
      if (!target.ok)
        throw new AppError('VALIDATION_ERROR', `target: ${target.reason}`, {
          field: 'target',
          reason: target.reason,
          discovery_profile_id: profileId,
        });
      if (!d.hub.isOnline(p.agent_id))
        throw new AppError('UNAVAILABLE', "no agent connected: the discovery profile's agent is offline", {
          agent_id: p.agent_id,
        });
      if (byProfile.has(profileId))
        throw new AppError('CONFLICT', 'a discovery run for this profile is already in progress', {
          run_id: byProfile.get(profileId),
        });
      const cred = await d.getCredential(p.credential_profile_id);
      const sealed = await d.sealer.seal(p.agent_id, p.credential_profile_id);
      const run_id = randomUUID();
      await recordAuditPg(d.pool, [
        {
          entity_type: 'discovery_profile',
          entity_id: profileId,
          action: 'run',
          changes: auditChanges('discovery_profile', null, { run_id }),
        },
      ]);
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
      byProfile.set(profileId, run_id);
      const sent = d.hub.send(p.agent_id, {
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
      const waited = await Promise.race([
        done.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), d.waitMs).unref()),
      ]);
      const view = publicView(runs.get(run_id)!);
      return { status: waited && view.status === 'completed' ? 200 : 202, body: view };
    },
    get(runId: string): DiscoveryRun {
      const r = runs.get(runId);
      if (!r) throw new AppError('NOT_FOUND', 'Discovery run not found', { run_id: runId });
      return publicView(r);
    },
    cancel(runId: string): DiscoveryRun {
      const r = runs.get(runId);
      if (!r) throw new AppError('NOT_FOUND', 'Discovery run not found', { run_id: runId });
      if (r.status === 'running') d.hub.send(r.agent_id, { type: 'discovery.cancel', run_id: runId });
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
