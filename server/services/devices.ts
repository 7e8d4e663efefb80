import { and, asc, eq, inArray, type SQL } from 'drizzle-orm';
import type { DiscoveredHost } from '../../shared/protocol/index.ts';
import type { Db } from '../db/client.ts';
import { agents, devices, monitors } from '../db/schema.ts';
import { notFound } from '../errors.ts';
import type { EventBus } from '../events.ts';
import { SYSTEM_DISCOVERY, SYSTEM_HEALTH_MONITOR, type AuditActor } from '../audit/actor.ts';
import { auditChanges, recordAudit, type AuditChanges, type AuditEntry } from '../audit/audit-log.ts';
import {
  iso,
  mapDbError,
  type Page,
  requireRow,
  type Tx,
  removeAudited,
  createAudited,
  rowById,
  listPage,
  refuseInUse,
} from './common.ts';
import type { MonitorService } from './monitors.ts';

type Row = typeof devices.$inferSelect;
export type DeviceStatus = Row['status'];
export interface DeviceInput {
  agent_id: number;
  ip: string;
  port?: number | undefined;
  use_ssl?: boolean | undefined;
  hostname?: string | null | undefined;
  os?: string | null | undefined;
  os_version?: string | null | undefined;
}

export const deviceToApi = (r: Row) => ({
  id: r.id,
  agent_id: r.agent_id,
  ip: r.ip,
  port: r.port,
  use_ssl: r.use_ssl,
  hostname: r.hostname,
  os: r.os,
  os_version: r.os_version,
  status: r.status,
  discovery_profile_id: r.discovery_profile_id,
  discovery_error: r.discovery_error ?? null,
  last_seen: iso(r.last_seen),
  created_at: iso(r.created_at)!,
  updated_at: iso(r.updated_at)!,
});
export type Device = ReturnType<typeof deviceToApi>;

type Patch = Partial<
  Pick<
    Row,
    | 'status'
    | 'hostname'
    | 'port'
    | 'use_ssl'
    | 'os'
    | 'os_version'
    | 'discovery_profile_id'
    | 'discovery_error'
    | 'last_seen'
  >
>;
/** What a committed change means to the rest of the server (announced on the event bus after the commit). */
export interface DeviceEffects {
  id: number;
  /** The new status, when it changed. */
  status?: DeviceStatus | undefined;
  /** The port or TLS setting changed (its monitors' targets did). */
  moved: boolean;
}
export interface DiscoveredDevice {
  row: Row;
  created: boolean;
  effects: DeviceEffects;
}

/** Statuses from which the health monitor takes a device out of polling, and from which discovery brings one back. */
const POLLED: readonly DeviceStatus[] = ['active', 'discovered'];
const REACTIVATED_BY_DISCOVERY: readonly DeviceStatus[] = ['inactive', 'unreachable'];

/**
 * The devices table's one writer: what users change, what discovery finds, what the health monitor
 * decides. Every change of an existing device goes through `change`, so a device set active again
 * is the same event, audit entry and failure-count reset whoever does it.
 */
export function createDeviceService(db: Db, events: EventBus, monitorService: Pick<MonitorService, 'resetFailures'>) {
  const get = (id: number): Promise<Row> => rowById(db, devices, id, 'Device');
  // The lock an UPDATE of non-key columns takes: a monitor inserted for the device (foreign key) does not wait for it.
  const lock = async (tx: Tx, id: number): Promise<Row | undefined> =>
    (await tx.select().from(devices).where(eq(devices.id, id)).for('no key update'))[0];

  /** Applies `patch` to the locked row `cur`; returns the audit entry (to record in the same transaction) and the effects. */
  async function change(
    tx: Tx,
    cur: Row,
    patch: Patch,
    o: { by?: AuditActor; recordUnchanged?: boolean; note?: AuditChanges } = {},
  ): Promise<{ row: Row; effects: DeviceEffects; audit: AuditEntry | undefined }> {
    const [row] = await tx
      .update(devices)
      .set({ ...patch, updated_at: new Date() })
      .where(eq(devices.id, cur.id))
      .returning();
    const effects: DeviceEffects = {
      id: cur.id,
      status: row!.status !== cur.status ? row!.status : undefined,
      moved: row!.port !== cur.port || row!.use_ssl !== cur.use_ssl,
    };
    if (effects.status === 'active') await monitorService.resetFailures(tx, cur.id);
    const changes = { ...auditChanges('device', cur, row!), ...o.note };
    const audit =
      o.recordUnchanged || Object.keys(changes).length > 0
        ? {
            entity_type: 'device' as const,
            entity_id: cur.id,
            action: 'update' as const,
            changes,
            ...(o.by ? { by: o.by } : {}),
          }
        : undefined;
    return { row: row!, effects, audit };
  }

  const announce = (e: DeviceEffects): void => {
    if (e.status !== undefined) events.emit('device.status_changed', { id: e.id, status: e.status });
    if (e.moved) events.emit('device.changed', { id: e.id });
  };

  return {
    async list(page: Page & { agent_id?: number | undefined; status?: DeviceStatus | undefined }) {
      const where: SQL[] = [];
      if (page.agent_id !== undefined) where.push(eq(devices.agent_id, page.agent_id));
      if (page.status !== undefined) where.push(eq(devices.status, page.status));
      return (await listPage(db, devices, page, and(...where))).map(deviceToApi);
    },
    get: async (id: number) => deviceToApi(await get(id)),
    getRow: get,
    async create(p: DeviceInput) {
      await requireRow(db, agents, p.agent_id, 'Agent', 'agent_id');
      const useSsl = p.use_ssl ?? false;
      try {
        const r = await createAudited(
          db,
          devices,
          {
            agent_id: p.agent_id,
            ip: p.ip,
            port: p.port ?? (useSsl ? 5986 : 5985),
            use_ssl: useSsl,
            hostname: p.hostname ?? null,
            os: p.os ?? null,
            os_version: p.os_version ?? null,
            status: 'active',
          },
          'device',
          (r) => auditChanges('device', null, r),
        );
        return deviceToApi(r);
      } catch (err) {
        mapDbError(err, 'a Device with this IP for this agent');
      }
    },
    /** Setting status back to `active` puts its monitors back in the agent's schedule (the assignment service listens). */
    async update(
      id: number,
      p: {
        status?: DeviceStatus | undefined;
        hostname?: string | null | undefined;
        port?: number | undefined;
        use_ssl?: boolean | undefined;
      },
    ) {
      const done = await db.transaction(async (tx) => {
        const cur = await lock(tx, id);
        if (!cur) return undefined;
        const r = await change(
          tx,
          cur,
          {
            ...(p.status !== undefined ? { status: p.status } : {}),
            ...(p.hostname !== undefined ? { hostname: p.hostname } : {}),
            ...(p.port !== undefined ? { port: p.port } : {}),
            ...(p.use_ssl !== undefined ? { use_ssl: p.use_ssl } : {}),
          },
          { recordUnchanged: true },
        );
        await recordAudit(tx, r.audit!);
        return r;
      });
      if (!done) throw notFound('Device', id);
      announce(done.effects);
      return deviceToApi(done.row);
    },
    /**
     * The health monitor's verdict: `failures` in a row take a polled device out of polling. False
     * when it was no longer polled (already inactive, set so meanwhile) or is gone.
     */
    async markInactive(id: number, failures: number): Promise<boolean> {
      const done = await db.transaction(async (tx) => {
        const cur = await lock(tx, id);
        if (!cur || !POLLED.includes(cur.status)) return undefined;
        const r = await change(
          tx,
          cur,
          { status: 'inactive' },
          { by: SYSTEM_HEALTH_MONITOR, note: { failures: { to: failures } } },
        );
        await recordAudit(tx, r.audit!);
        return r;
      });
      if (done) announce(done.effects);
      return done !== undefined;
    },
    /**
     * What one discovery result part found, in the caller's transaction (in the hosts' order): a new
     * host becomes a device in `createdStatus`; a known one is updated, and set active again if it
     * was inactive or unreachable. The caller announces the effects after its commit.
     */
    async recordDiscovered(
      tx: Tx,
      p: {
        agent_id: number;
        discovery_profile_id: number | null;
        createdStatus: 'active' | 'discovered';
        hosts: readonly DiscoveredHost[];
      },
    ): Promise<DiscoveredDevice[]> {
      if (p.hosts.length === 0) return [];
      // Known rows locked in one statement, in ip order (two runs on one agent lock in the same order).
      const known = new Map<string, Row>();
      const byIp = (ip: string) => and(eq(devices.agent_id, p.agent_id), eq(devices.ip, ip));
      for (const r of await tx
        .select()
        .from(devices)
        .where(
          and(
            eq(devices.agent_id, p.agent_id),
            inArray(
              devices.ip,
              p.hosts.map((h) => h.ip),
            ),
          ),
        )
        .orderBy(asc(devices.ip))
        .for('no key update'))
        known.set(r.ip, r);
      const out: DiscoveredDevice[] = [];
      const audit: AuditEntry[] = [];
      for (const h of p.hosts) {
        let cur = known.get(h.ip);
        if (!cur) {
          const [created] = await tx
            .insert(devices)
            .values({
              agent_id: p.agent_id,
              ip: h.ip,
              port: h.port,
              use_ssl: h.use_ssl,
              hostname: h.hostname,
              os: h.os,
              os_version: h.os_version,
              status: p.createdStatus,
              discovery_profile_id: p.discovery_profile_id,
              discovery_error: h.error ?? null,
              last_seen: new Date(),
            })
            .onConflictDoNothing()
            .returning();
          if (created) {
            audit.push({
              entity_type: 'device',
              entity_id: created.id,
              action: 'create',
              changes: auditChanges('device', null, created),
              by: SYSTEM_DISCOVERY,
            });
            known.set(h.ip, created);
            out.push({ row: created, created: true, effects: { id: created.id, moved: false } });
            continue;
          }
          // Another run of this agent stored it since the lock above.
          cur = (await tx.select().from(devices).where(byIp(h.ip)).for('no key update'))[0]!;
        }
        const r = await change(
          tx,
          cur,
          {
            port: h.port,
            use_ssl: h.use_ssl,
            hostname: h.hostname ?? cur.hostname,
            os: h.os ?? cur.os,
            os_version: h.os_version ?? cur.os_version,
            last_seen: new Date(),
            discovery_profile_id: cur.discovery_profile_id ?? p.discovery_profile_id,
            discovery_error: h.error ?? null,
            ...(REACTIVATED_BY_DISCOVERY.includes(cur.status) ? { status: 'active' as const } : {}),
          },
          { by: SYSTEM_DISCOVERY },
        );
        if (r.audit) audit.push(r.audit);
        known.set(h.ip, r.row);
        out.push({ row: r.row, created: false, effects: r.effects });
      }
      await recordAudit(tx, ...audit);
      return out;
    },
    announce,
    async remove(id: number) {
      const cur = await get(id);
      await refuseInUse(db, 'Device', monitors.device_id, id);
      await removeAudited(db, devices, id, 'device', cur);
    },
  };
}
export type DeviceService = ReturnType<typeof createDeviceService>;
