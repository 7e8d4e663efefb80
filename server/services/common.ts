import type { Db } from '../db/client.ts';
import { AppError } from '../errors.ts';

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

export interface Page {
  limit: number;
  offset: number;
}
