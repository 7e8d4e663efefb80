import { asc, count, eq, getTableName, type SQL } from 'drizzle-orm';
import type { PgColumn, PgInsertValue, PgTable, PgUpdateSetSource } from 'drizzle-orm/pg-core';
import type { Db } from '../db/client.ts';
import { AppError, notFound } from '../errors.ts';
import { auditChanges, recordAudit, type AuditChanges, type AuditEntityType } from '../audit/audit-log.ts';

/** A drizzle transaction: what a verb that changes several tables in one commit is handed. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

/** Turns a unique-violation into 409 and a foreign-key violation into 400, both with a readable message. */
export function mapDbError(err: unknown, entity: string): never {
  const outer = err as { code?: string; constraint?: string; cause?: unknown };
  const e = (outer?.code ? outer : (outer?.cause ?? outer)) as { code?: string; constraint?: string };
  if (e?.code === '23505')
    throw new AppError(
      'CONFLICT',
      `${entity} already exists (${(e.constraint ?? 'unique').replace(/_key$|_unique$/, '').replace(/_/g, ' ')})`,
      { constraint: e.constraint },
    );
  if (e?.code === '23503')
    throw new AppError('VALIDATION_ERROR', `${entity} refers to something that does not exist`, {
      constraint: e.constraint,
    });
  throw err;
}

/** Row `id` of `table`, or 404 `<what> not found` with `{ id }`. */
export async function rowById<T extends PgTable & { id: PgColumn }>(
  db: Db,
  table: T,
  id: number,
  what: string,
): Promise<T['$inferSelect']> {
  // The generic table is beyond drizzle's type inference; the row is T's.
  const [r] = (await db
    .select()
    .from(table as PgTable)
    .where(eq(table.id, id))) as T['$inferSelect'][];
  if (!r) throw notFound(what, id);
  return r;
}

/** A page of `table`'s rows (those matching `where`), oldest (lowest id) first. */
export async function listPage<T extends PgTable & { id: PgColumn }>(
  db: Db,
  table: T,
  page: Page,
  where?: SQL,
): Promise<T['$inferSelect'][]> {
  return (await db
    .select()
    .from(table as PgTable)
    .where(where)
    .orderBy(asc(table.id))
    .limit(page.limit)
    .offset(page.offset)) as T['$inferSelect'][];
}

/** The fields of `p` named in `keys` that are set (not undefined): what an update changes. */
export function definedFields<P extends object, K extends keyof P>(
  p: P,
  keys: readonly K[],
): { [F in K]?: Exclude<P[F], undefined> } {
  const out: { [F in K]?: P[F] } = {};
  for (const k of keys) if (p[k] !== undefined) out[k] = p[k];
  return out as { [F in K]?: Exclude<P[F], undefined> };
}

/** The tables whose rows hold others in use, by SQL name, as the IN_USE refusal words them. */
const USERS: Record<string, string> = {
  monitors: 'monitor',
  devices: 'device',
  discovery_profiles: 'discovery profile',
};

/**
 * 400 IN_USE `<what> in use by N <users>(s)` with `{ <users' table>: N }` while rows refer to row `id`
 * through `column` (README: deletion rules).
 */
export async function refuseInUse(db: Db | Tx, what: string, column: PgColumn, id: number): Promise<void> {
  const users = getTableName(column.table);
  const [r] = await db.select({ n: count() }).from(column.table).where(eq(column, id));
  if (r!.n > 0)
    throw new AppError('IN_USE', `${what} in use by ${r!.n} ${USERS[users] ?? users}(s)`, { [users]: r!.n });
}

/**
 * A reference a caller names (agent_id, plugin_id …) must exist: 404 `<what> not found` with
 * `{ [field]: id }` otherwise. Each reference gets its own check, so the 404 names the one missing.
 */
export async function requireRow(
  db: Db,
  table: PgTable & { id: PgColumn },
  id: number,
  what: string,
  field: string,
): Promise<void> {
  const found = await db.select({ id: table.id }).from(table).where(eq(table.id, id));
  if (!found.length) throw new AppError('NOT_FOUND', `${what} not found`, { [field]: id });
}

/** Inserts one row into `table` and records its creation (`changes` of the new row) in the same transaction. */
export async function createAudited<T extends PgTable & { id: PgColumn }>(
  db: Db,
  table: T,
  values: PgInsertValue<T>,
  entity: AuditEntityType,
  changes: (row: T['$inferSelect']) => AuditChanges,
): Promise<T['$inferSelect']> {
  return db.transaction(async (tx) => {
    const [r] = (await tx.insert(table).values(values).returning()) as T['$inferSelect'][];
    await recordAudit(tx, {
      entity_type: entity,
      entity_id: (r as { id: number }).id,
      action: 'create',
      changes: changes(r!),
    });
    return r!;
  });
}

/**
 * Updates row `id` of `table` and records the update (`changes` of the new row) in the same
 * transaction. Undefined when the row is gone (nothing recorded).
 */
export async function updateAudited<T extends PgTable & { id: PgColumn }>(
  db: Db,
  table: T,
  id: number,
  set: PgUpdateSetSource<T>,
  entity: AuditEntityType,
  changes: (row: T['$inferSelect']) => AuditChanges,
): Promise<T['$inferSelect'] | undefined> {
  return db.transaction(async (tx) => {
    const [r] = (await tx.update(table).set(set).where(eq(table.id, id)).returning()) as T['$inferSelect'][];
    if (r) await recordAudit(tx, { entity_type: entity, entity_id: id, action: 'update', changes: changes(r) });
    return r;
  });
}

/**
 * Deletes row `id` of `table` and records the deletion (`cur`: the row as it was) in the same
 * transaction; nothing is recorded when the row was already gone.
 */
export async function removeAudited(
  db: Db,
  table: PgTable & { id: PgColumn },
  id: number,
  entity: AuditEntityType,
  cur: Record<string, unknown>,
): Promise<void> {
  await db.transaction(async (tx) => {
    const gone = await tx.delete(table).where(eq(table.id, id)).returning({ id: table.id });
    if (gone.length)
      await recordAudit(tx, {
        entity_type: entity,
        entity_id: id,
        action: 'delete',
        changes: auditChanges(entity, cur, null),
      });
  });
}

export interface Page {
  limit: number;
  offset: number;
}
