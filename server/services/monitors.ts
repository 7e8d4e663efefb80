import { and, asc, eq, inArray, ne } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { credentialProfiles, devices, monitors, plugins } from '../db/schema.ts';
import { notFound } from '../errors.ts';
import type { EventBus } from '../events.ts';
import type { AuditActor } from '../audit/actor.ts';
import { auditChanges, recordAudit } from '../audit/audit-log.ts';
import {
  iso,
  type Page,
  requireRow,
  type Tx,
  removeAudited,
  updateAudited,
  rowById,
  listPage,
  definedFields,
} from './common.ts';

type Row = typeof monitors.$inferSelect;
export interface MonitorInput {
  device_id: number;
  credential_profile_id: number;
  plugin_id: number;
  polling_interval?: number | undefined;
  enabled?: boolean | undefined;
}

export const monitorToApi = (r: Row) => ({
  id: r.id,
  device_id: r.device_id,
  credential_profile_id: r.credential_profile_id,
  plugin_id: r.plugin_id,
  polling_interval: r.polling_interval,
  enabled: r.enabled,
  last_polled: iso(r.last_polled),
  last_attempted: iso(r.last_attempted),
  last_error: r.last_error,
  last_error_class: r.last_error_class,
  last_error_at: iso(r.last_error_at),
  consecutive_failures: r.consecutive_failures,
  created_at: iso(r.created_at)!,
  updated_at: iso(r.updated_at)!,
});

/**
 * The monitors table's one writer besides the metrics writer, which alone updates the poll state
 * (last_polled, last_attempted, last_error*, consecutive_failures) in the transaction that stores
 * the metrics (server/metrics/monitor-state.ts). The one exception is `resetFailures`, when a
 * device is set active again.
 */
export function createMonitorService(db: Db, events: EventBus) {
  const get = (id: number): Promise<Row> => rowById(db, monitors, id, 'Monitor');
  /** Each reference is checked, in this order, with its own 404 (device, credential profile, plugin). */
  const checkRefs = async (p: Partial<MonitorInput>) => {
    if (p.device_id !== undefined) await requireRow(db, devices, p.device_id, 'Device', 'device_id');
    if (p.credential_profile_id !== undefined)
      await requireRow(db, credentialProfiles, p.credential_profile_id, 'Credential Profile', 'credential_profile_id');
    if (p.plugin_id !== undefined) await requireRow(db, plugins, p.plugin_id, 'Plugin', 'plugin_id');
  };
  const insert = async (tx: Tx, p: MonitorInput, by?: AuditActor): Promise<Row> => {
    const [r] = await tx
      .insert(monitors)
      .values({
        device_id: p.device_id,
        credential_profile_id: p.credential_profile_id,
        plugin_id: p.plugin_id,
        polling_interval: p.polling_interval ?? 60,
        enabled: p.enabled ?? true,
      })
      .returning();
    await recordAudit(tx, {
      entity_type: 'monitor',
      entity_id: r!.id,
      action: 'create',
      changes: auditChanges('monitor', null, r!),
      ...(by ? { by } : {}),
    });
    return r!;
  };
  return {
    list: async (page: Page & { device_id?: number | undefined }) =>
      (
        await listPage(
          db,
          monitors,
          page,
          page.device_id !== undefined ? eq(monitors.device_id, page.device_id) : undefined,
        )
      ).map(monitorToApi),
    get: async (id: number) => monitorToApi(await get(id)),
    getRow: get,
    async create(p: MonitorInput) {
      await checkRefs(p);
      const r = await db.transaction((tx) => insert(tx, p));
      events.emit('monitor.changed', { id: r.id });
      return monitorToApi(r);
    },
    /**
     * A monitor made by the server itself (discovery's auto-provisioning) in the caller's transaction,
     * whose references the caller vouches for. The caller announces it after the commit.
     */
    provision: (tx: Tx, p: MonitorInput, by: AuditActor) => insert(tx, p, by),
    /**
     * Starts a device's failure count again (it was set active), in the caller's transaction. The rows
     * are locked in id order in a statement of their own first, as the metrics writer locks them: the
     * two never deadlock. Returns how many monitors the device has.
     */
    async resetFailures(tx: Tx, deviceId: number): Promise<number> {
      const locked = await tx
        .select({ id: monitors.id })
        .from(monitors)
        .where(eq(monitors.device_id, deviceId))
        .orderBy(asc(monitors.id))
        .for('no key update');
      const ids = locked.map((r) => r.id);
      if (ids.length > 0)
        await tx
          .update(monitors)
          .set({ consecutive_failures: 0 })
          .where(and(inArray(monitors.id, ids), ne(monitors.consecutive_failures, 0)));
      return ids.length;
    },
    async update(id: number, p: Partial<Omit<MonitorInput, 'device_id'>>) {
      const cur = await get(id);
      await checkRefs(p);
      const set = {
        ...definedFields(p, ['credential_profile_id', 'plugin_id', 'polling_interval', 'enabled']),
        updated_at: new Date(),
      };
      const r = await updateAudited(db, monitors, id, set, 'monitor', (r) => auditChanges('monitor', cur, r));
      if (!r) throw notFound('Monitor', id);
      events.emit('monitor.changed', { id });
      return monitorToApi(r!);
    },
    /** Always allowed; its metrics go with it (ON DELETE CASCADE). */
    async remove(id: number) {
      const cur = await get(id);
      await removeAudited(db, monitors, id, 'monitor', cur);
      events.emit('monitor.changed', { id, deleted: true });
    },
  };
}
export type MonitorService = ReturnType<typeof createMonitorService>;
