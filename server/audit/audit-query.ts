import { and, desc, eq, gte, lt, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { auditLog } from '../db/schema.ts';

export interface AuditFilter {
  entity_type?: string | undefined;
  entity_id?: number | undefined;
  actor?: string | undefined;
  /** Inclusive. */
  from?: Date | undefined;
  /** Exclusive. */
  to?: Date | undefined;
  limit: number;
  offset: number;
}

/** Reads the audit log, newest first. */
export function createAuditLogReader(db: Db) {
  return {
    async list(f: AuditFilter) {
      const where: SQL[] = [];
      if (f.entity_type !== undefined) where.push(eq(auditLog.entity_type, f.entity_type));
      if (f.entity_id !== undefined) where.push(eq(auditLog.entity_id, f.entity_id));
      if (f.actor !== undefined) where.push(eq(auditLog.actor, f.actor));
      if (f.from !== undefined) where.push(gte(auditLog.time, f.from));
      if (f.to !== undefined) where.push(lt(auditLog.time, f.to));
      const rows = await db
        .select()
        .from(auditLog)
        .where(and(...where))
        .orderBy(desc(auditLog.time), desc(auditLog.id))
        .limit(f.limit)
        .offset(f.offset);
      return rows.map((r) => ({
        id: r.id,
        time: r.time.toISOString(),
        actor: r.actor,
        source_address: r.source_address,
        entity_type: r.entity_type,
        entity_id: r.entity_id,
        action: r.action,
        changes: r.changes as Record<string, { from?: unknown; to: unknown }>,
      }));
    },
  };
}
export type AuditLogReader = ReturnType<typeof createAuditLogReader>;
