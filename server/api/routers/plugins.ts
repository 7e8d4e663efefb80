import { z } from 'zod';
import { authedProcedure, router } from '../trpc.ts';
import { Id, IdInput, Name, PageInput } from '../schemas.ts';

export const PluginCreate = z
  .object({
    name: Name,
    type: z.enum(['windows-wmi', 'windows-powershell', 'external']),
    description: z.string().max(1000).optional(),
    config: z
      .record(z.string(), z.unknown())
      .optional()
      .describe(
        'external: {command, args?, timeout_ms?, max_output_bytes?}, where command is the name of a plugin the site ' +
          "installed in the agent's plugins folder (<home>/plugins/<name>; letters, digits, . _ -, no path). " +
          'The built-in types take no settings.',
      ),
  })
  .strict();
export const PluginUpdate = PluginCreate.partial().extend({ id: Id }).strict();
export const PluginOutput = z.object({
  id: z.number(),
  name: z.string(),
  type: z.enum(['windows-wmi', 'windows-powershell', 'external']),
  description: z.string(),
  config: z.record(z.string(), z.unknown()),
  builtin: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
});

const tags = ['plugins'];
export const pluginsRouter = router({
  list: authedProcedure
    .meta({ openapi: { method: 'GET', path: '/plugins', tags, summary: 'List plugins (built-in and external)' } })
    .input(PageInput)
    .output(z.array(PluginOutput))
    .query(({ ctx, input }) => ctx.services.plugins.list(input)),
  get: authedProcedure
    .meta({ openapi: { method: 'GET', path: '/plugins/{id}', tags, summary: 'Get one plugin' } })
    .input(IdInput)
    .output(PluginOutput)
    .query(({ ctx, input }) => ctx.services.plugins.get(input.id)),
  create: authedProcedure
    .meta({ status: 201, openapi: { method: 'POST', path: '/plugins', tags, summary: 'Register an external plugin' } })
    .input(PluginCreate)
    .output(PluginOutput)
    .mutation(({ ctx, input }) => ctx.services.plugins.create(input)),
  update: authedProcedure
    .meta({
      openapi: { method: 'PUT', path: '/plugins/{id}', tags, summary: 'Update (built-in plugins are read-only: 400)' },
    })
    .input(PluginUpdate)
    .output(PluginOutput)
    .mutation(({ ctx, input: { id, ...rest } }) => ctx.services.plugins.update(id, rest)),
  delete: authedProcedure
    .meta({
      status: 204,
      openapi: {
        method: 'DELETE',
        path: '/plugins/{id}',
        tags,
        summary: 'Delete (refused while monitors use it, and for built-in plugins)',
      },
    })
    .input(IdInput)
    .output(z.void())
    .mutation(async ({ ctx, input }) => {
      await ctx.services.plugins.remove(input.id);
    }),
});
