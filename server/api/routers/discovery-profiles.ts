import { z } from 'zod';
import { authedProcedure, router } from '../trpc.ts';
import { Id, IdInput, Name, PageInput, PollingInterval, Target } from '../schemas.ts';
import { DeviceOutput } from './devices.ts';

export const DiscoveryProfileCreate = z
  .object({
    name: Name,
    agent_id: Id,
    credential_profile_id: Id,
    target: Target,
    port_scan: z.boolean().optional(),
    auto_provision: z.boolean().optional(),
    plugin_id: Id.nullable().optional(),
    polling_interval: PollingInterval.optional(),
    authenticate_unverified: z
      .boolean()
      .optional()
      .describe(
        'Default false: the credential goes only to hosts proven by HTTPS with a verified or pinned certificate. True ' +
          'also sends it over WinRM HTTP and unchecked HTTPS, where anything on the network answering as Windows ' +
          'receives an NTLMv2 response it can crack offline.',
      ),
  })
  .strict();
export const DiscoveryProfileUpdate = DiscoveryProfileCreate.partial().extend({ id: Id }).strict();
export const DiscoveryProfileOutput = z.object({
  id: z.number(),
  name: z.string(),
  agent_id: z.number(),
  credential_profile_id: z.number(),
  target: z.string(),
  port_scan: z.boolean(),
  auto_provision: z.boolean(),
  plugin_id: z.number().nullable(),
  polling_interval: z.number(),
  authenticate_unverified: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
});
export const DiscoveryRunOutput = z.object({
  run_id: z.string(),
  discovery_profile_id: z.number(),
  agent_id: z.number(),
  status: z.enum(['running', 'completed', 'failed', 'cancelled']),
  scanned: z.number(),
  total: z.number(),
  found: z.number(),
  devices: z.array(DeviceOutput),
  provisioned_monitors: z.number(),
  error: z.string().nullable(),
  started_at: z.string(),
  finished_at: z.string().nullable(),
});

const tags = ['discovery-profiles'];
export const discoveryProfilesRouter = router({
  list: authedProcedure
    .meta({ openapi: { method: 'GET', path: '/discovery-profiles', tags, summary: 'List discovery profiles' } })
    .input(PageInput)
    .output(z.array(DiscoveryProfileOutput))
    .query(({ ctx, input }) => ctx.services.discoveryProfiles.list(input)),
  get: authedProcedure
    .meta({ openapi: { method: 'GET', path: '/discovery-profiles/{id}', tags, summary: 'Get one discovery profile' } })
    .input(IdInput)
    .output(DiscoveryProfileOutput)
    .query(({ ctx, input }) => ctx.services.discoveryProfiles.get(input.id)),
  create: authedProcedure
    .meta({
      status: 201,
      openapi: {
        method: 'POST',
        path: '/discovery-profiles',
        tags,
        summary: 'Create a discovery profile: targets, agent, credentials',
      },
    })
    .input(DiscoveryProfileCreate)
    .output(DiscoveryProfileOutput)
    .mutation(({ ctx, input }) => ctx.services.discoveryProfiles.create(input)),
  update: authedProcedure
    .meta({ openapi: { method: 'PUT', path: '/discovery-profiles/{id}', tags, summary: 'Update a discovery profile' } })
    .input(DiscoveryProfileUpdate)
    .output(DiscoveryProfileOutput)
    .mutation(({ ctx, input: { id, ...rest } }) => ctx.services.discoveryProfiles.update(id, rest)),
  delete: authedProcedure
    .meta({
      status: 204,
      openapi: {
        method: 'DELETE',
        path: '/discovery-profiles/{id}',
        tags,
        summary: 'Delete (the devices it found remain)',
      },
    })
    .input(IdInput)
    .output(z.void())
    .mutation(async ({ ctx, input }) => {
      await ctx.services.discoveryProfiles.remove(input.id);
    }),
  run: authedProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/discovery-profiles/{id}/run',
        tags,
        summary:
          "Run discovery on the profile's agent: 200 with {found, devices} when it finishes within the wait, else 202 with a run id",
      },
    })
    .input(IdInput)
    .output(DiscoveryRunOutput)
    .mutation(async ({ ctx, input }) => {
      const run = await ctx.services.discoveryRuns.start(input.id);
      ctx.reply.status = run.status === 'completed' ? 200 : 202;
      return run;
    }),
  getRun: authedProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/discovery-runs/{run_id}',
        tags,
        summary: 'Progress and result of a discovery run',
      },
    })
    .input(z.object({ run_id: z.string().uuid() }).strict())
    .output(DiscoveryRunOutput)
    .query(({ ctx, input }) => ctx.services.discoveryRuns.get(input.run_id)),
  cancelRun: authedProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/discovery-runs/{run_id}/cancel',
        tags,
        summary: 'Cancel a discovery run in progress',
      },
    })
    .input(z.object({ run_id: z.string().uuid() }).strict())
    .output(DiscoveryRunOutput)
    .mutation(({ ctx, input }) => ctx.services.discoveryRuns.cancel(input.run_id)),
});
