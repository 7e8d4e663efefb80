import { z } from 'zod';
import { AUDIT_ACTIONS, AUDIT_ENTITY_TYPES } from '../../audit/audit-log.ts';
import { authedProcedure, router } from '../trpc.ts';
import { Id, PageInput } from '../schemas.ts';

const Time = z
  .string()
  .datetime({ offset: true, message: 'must be an ISO 8601 time with a zone, like 2026-01-31T12:00:00Z' });

export const AuditLogQuery = PageInput.extend({
  entity_type: z.enum(AUDIT_ENTITY_TYPES as [string, ...string[]]).optional(),
  entity_id: Id.optional(),
  actor: z.string().min(1).max(200).optional(),
  from: Time.optional().describe('Entries at or after this time'),
  to: Time.optional().describe('Entries before this time'),
}).strict();

export const AuditLogEntry = z.object({
  id: z.number(),
  time: z.string(),
  actor: z
    .string()
    .describe("The admin's username, 'agent: <name>' (enrolment), or 'system: health monitor' / 'system: discovery'"),
  source_address: z.string().nullable(),
  entity_type: z.string(),
  entity_id: z.number().nullable(),
  action: z.enum(AUDIT_ACTIONS),
  changes: z
    .record(z.string(), z.object({ from: z.unknown().optional(), to: z.unknown() }))
    .describe(
      'Allow-listed fields only; a secret (password, enrollment token, keys) shows as "(changed)", never its value',
    ),
});

export const auditLogRouter = router({
  list: authedProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/audit-log',
        tags: ['audit-log'],
        summary: 'Every change made through the API or by the server, newest first',
      },
    })
    .input(AuditLogQuery)
    .output(z.array(AuditLogEntry))
    .query(
      ({ ctx, input }) =>
        ctx.services.auditLog.list({
          ...input,
          from: input.from ? new Date(input.from) : undefined,
          to: input.to ? new Date(input.to) : undefined,
        }) as Promise<z.infer<typeof AuditLogEntry>[]>,
    ),
});
