import { z } from 'zod';
import { Failure } from '../../../shared/failures.ts';
import { authedProcedure, router } from '../trpc.ts';
import { Id, IdInput, Ipv4, PageInput, Port } from '../schemas.ts';

const Status = z.enum(['discovered', 'active', 'inactive', 'unreachable']);
export const DeviceCreate = z
  .object({
    agent_id: Id,
    ip: Ipv4,
    port: Port.optional(),
    use_ssl: z.boolean().optional(),
    hostname: z.string().trim().max(255).nullable().optional(),
    os: z.string().max(255).nullable().optional(),
    os_version: z.string().max(100).nullable().optional(),
  })
  .strict();
export const DeviceUpdate = z
  .object({
    id: Id,
    status: Status.optional(),
    hostname: z.string().trim().max(255).nullable().optional(),
    port: Port.optional(),
    use_ssl: z.boolean().optional(),
  })
  .strict();
export const DeviceOutput = z.object({
  id: z.number(),
  agent_id: z.number(),
  ip: z.string(),
  port: z.number(),
  use_ssl: z.boolean(),
  hostname: z.string().nullable(),
  os: z.string().nullable(),
  os_version: z.string().nullable(),
  status: Status,
  discovery_profile_id: z.number().nullable(),
  discovery_error: Failure.nullable().describe(
    "Why the last discovery that found this device could not query it with the profile's credential (class auth: wrong password); null when it could",
  ),
  last_seen: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});

const tags = ['devices'];
export const devicesRouter = router({
  list: authedProcedure
    .meta({ openapi: { method: 'GET', path: '/devices', tags, summary: 'List devices, filtered by agent or status' } })
    .input(PageInput.extend({ agent_id: Id.optional(), status: Status.optional() }).strict())
    .output(z.array(DeviceOutput))
    .query(({ ctx, input }) => ctx.services.devices.list(input)),
  get: authedProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/devices/{id}',
        tags,
        summary: 'Get one device, with the error of its last discovery if it had one',
      },
    })
    .input(IdInput)
    .output(DeviceOutput)
    .query(({ ctx, input }) => ctx.services.devices.get(input.id)),
  create: authedProcedure
    .meta({
      status: 201,
      openapi: { method: 'POST', path: '/devices', tags, summary: 'Add a device by hand (discovery adds them too)' },
    })
    .input(DeviceCreate)
    .output(DeviceOutput)
    .mutation(({ ctx, input }) => ctx.services.devices.create(input)),
  update: authedProcedure
    .meta({
      openapi: {
        method: 'PUT',
        path: '/devices/{id}',
        tags,
        summary: 'Update; status "active" reactivates an inactive device and its monitors',
      },
    })
    .input(DeviceUpdate)
    .output(DeviceOutput)
    .mutation(({ ctx, input: { id, ...rest } }) => ctx.services.devices.update(id, rest)),
  delete: authedProcedure
    .meta({
      status: 204,
      openapi: { method: 'DELETE', path: '/devices/{id}', tags, summary: 'Delete (refused while monitors use it)' },
    })
    .input(IdInput)
    .output(z.void())
    .mutation(async ({ ctx, input }) => {
      await ctx.services.devices.remove(input.id);
    }),
});
