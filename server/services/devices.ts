import { and, asc, count, eq, type SQL } from 'drizzle-orm';
import type pg from 'pg';
import type { Db } from '../db/client.ts';
import { agents, devices, monitors } from '../db/schema.ts';
import { AppError, notFound } from '../errors.ts';
import type { EventBus } from '../events.ts';
import { auditChanges, recordAudit } from '../audit/audit-log.ts';
import { resetConsecutiveFailures } from '../metrics/monitor-state.ts';
import { iso, mapDbError, type Page } from './common.ts';

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

export function createDeviceService(db: Db, pool: pg.Pool, events: EventBus) {
  const get = async (id: number): Promise<Row> => {
    const [r] = await db.select().from(devices).where(eq(devices.id, id));
    if (!r) throw notFound('Device', id);
    return r;
  };
  return {
    async list(page: Page & { agent_id?: number | undefined; status?: DeviceStatus | undefined }) {
      const where: SQL[] = [];
      if (page.agent_id !== undefined) where.push(eq(devices.agent_id, page.agent_id));
      if (page.status !== undefined) where.push(eq(devices.status, page.status));
      const rows = await db
        .select()
        .from(devices)
        .where(and(...where))
        .orderBy(asc(devices.id))
        .limit(page.limit)
        .offset(page.offset);
      return rows.map(deviceToApi);
    },
    get: async (id: number) => deviceToApi(await get(id)),
    getRow: get,
    async create(p: DeviceInput) {
      const [a] = await db.select({ id: agents.id }).from(agents).where(eq(agents.id, p.agent_id));
      if (!a) throw new AppError('NOT_FOUND', 'Agent not found', { agent_id: p.agent_id });
      const useSsl = p.use_ssl ?? false;
      try {
        const r = await db.transaction(async (tx) => {
          const [r] = await tx
            .insert(devices)
            .values({
              agent_id: p.agent_id,
              ip: p.ip,
              port: p.port ?? (useSsl ? 5986 : 5985),
              use_ssl: useSsl,
              hostname: p.hostname ?? null,
              os: p.os ?? null,
              os_version: p.os_version ?? null,
              status: 'active',
            })
            .returning();
          await recordAudit(tx, {
            entity_type: 'device',
            entity_id: r!.id,
            action: 'create',
            changes: auditChanges('device', null, r!),
          });
          return r;
        });
        return deviceToApi(r!);
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
      const cur = await get(id);
      const r = await db.transaction(async (tx) => {
        const [r] = await tx
          .update(devices)
          .set({
            ...(p.status !== undefined ? { status: p.status } : {}),
            ...(p.hostname !== undefined ? { hostname: p.hostname } : {}),
            ...(p.port !== undefined ? { port: p.port } : {}),
            ...(p.use_ssl !== undefined ? { use_ssl: p.use_ssl } : {}),
            updated_at: new Date(),
          })
          .where(eq(devices.id, id))
          .returning();
        if (r)
          await recordAudit(tx, {
            entity_type: 'device',
            entity_id: id,
            action: 'update',
            changes: auditChanges('device', cur, r),
          });
        return r;
      });
      if (!r) throw notFound('Device', id);
      if (p.status !== undefined && p.status !== cur.status) {
        // Monitor state belongs to the metrics writer's module (rows locked in id order: no deadlock with a batch).
        if (p.status === 'active') await resetConsecutiveFailures(pool, id);
        events.emit('device.status_changed', { id, status: p.status });
      }
      if ((p.port !== undefined && p.port !== cur.port) || (p.use_ssl !== undefined && p.use_ssl !== cur.use_ssl))
        events.emit('device.changed', { id });
      return deviceToApi(r!);
    },
    async remove(id: number) {
      const cur = await get(id);
      const [m] = await db.select({ n: count() }).from(monitors).where(eq(monitors.device_id, id));
      if (m!.n > 0) throw new AppError('IN_USE', `Device in use by ${m!.n} monitor(s)`, { monitors: m!.n });
      await db.transaction(async (tx) => {
        const gone = await tx.delete(devices).where(eq(devices.id, id)).returning({ id: devices.id });
        if (gone.length)
          await recordAudit(tx, {
            entity_type: 'device',
            entity_id: id,
            action: 'delete',
            changes: auditChanges('device', cur, null),
          });
      });
    },
  };
}
