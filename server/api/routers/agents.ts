import { z } from 'zod';
import { authedProcedure, publicProcedure, router } from '../trpc.ts';
import { Id, IdInput, Name, PageInput } from '../schemas.ts';
import { InstallCommands } from '../../install/commands.ts';

/** What `nmslite-agent enroll` sends: its one-time token and public keys (checked further by the agents service). */
export const EnrollRequest = z
  .object({
    token: z.string().min(10).max(200),
    sign_public_key: z.string().max(2000),
    seal_public_key: z.string().max(2000),
    hostname: z.string().max(255).optional(),
    version: z.string().max(50).optional(),
  })
  .strict();

export const AgentOutput = z.object({
  id: z.number(),
  name: z.string(),
  status: z.enum(['pending', 'active', 'disabled']),
  online: z.boolean(),
  version: z.string().nullable(),
  hostname: z.string().nullable(),
  last_seen: z.string().nullable(),
  enrolled_at: z.string().nullable(),
  enrollment_expires_at: z.string().nullable(),
  health: z.record(z.string(), z.unknown()).nullable(),
  /** The assignment set: what the server sent, what the agent acknowledged, what its last health report says it runs. */
  schedule: z.object({
    revision_sent: z.number().nullable(),
    revision_acked: z.number().nullable(),
    monitors_assigned: z.number(),
    agent_revision: z.number().nullable(),
  }),
  /** From the agent's last health report: running cut off from the server. */
  offline: z
    .object({
      offline_since: z.string().nullable(),
      polls_offline: z.number().nullable(),
      polling_paused: z.boolean(),
      spool_backlog: z.number(),
      spool_oldest_age_ms: z.number().nullable(),
    })
    .nullable(),
  /** Results a full spool evicted (oldest first): exact time ranges per monitor. */
  spool_evicted: z
    .object({
      records: z.number(),
      ranges: z.array(z.object({ monitor_id: z.number(), from: z.string(), to: z.string(), count: z.number() })),
      ranges_omitted: z.number(),
    })
    .nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});
/** `install`: ready commands that download, verify, enroll and start the agent with this token (server/install). */
export const AgentWithToken = z.object({ agent: AgentOutput, enrollment_token: z.string(), install: InstallCommands });

const tags = ['agents'];
export const agentsRouter = router({
  list: authedProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/agents',
        tags,
        summary: 'List agents with their connection state and spool health',
      },
    })
    .input(PageInput)
    .output(z.array(AgentOutput))
    .query(({ ctx, input }) => ctx.services.agents.list(input)),
  get: authedProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/agents/{id}',
        tags,
        summary: 'Get one agent: connection, schedule, last health report and lost results',
      },
    })
    .input(IdInput)
    .output(AgentOutput)
    .query(({ ctx, input }) => ctx.services.agents.get(input.id)),
  create: authedProcedure
    .meta({
      status: 201,
      openapi: {
        method: 'POST',
        path: '/agents',
        tags,
        summary: 'Create an agent; the one-time enrollment token is shown only here',
      },
    })
    .input(z.object({ name: Name }).strict())
    .output(AgentWithToken)
    .mutation(async ({ ctx, input }) => {
      const r = await ctx.services.agents.create(input);
      return { ...r, install: await ctx.services.install.commands(r.enrollment_token) };
    }),
  enroll: publicProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/agents/enroll',
        tags,
        summary: "Used by `nmslite-agent enroll`: redeem a one-time token with the agent's public keys",
        protect: false,
      },
    })
    .input(EnrollRequest)
    .output(z.object({ agent_id: z.number(), name: z.string() }))
    .mutation(({ ctx, input }) => ctx.services.agents.enroll(input)),
  reissueToken: authedProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/agents/{id}/enrollment-token',
        tags,
        summary: 'Issue a new one-time enrollment token',
      },
    })
    .input(IdInput)
    .output(AgentWithToken)
    .mutation(async ({ ctx, input }) => {
      const r = await ctx.services.agents.reissueToken(input.id);
      return { ...r, install: await ctx.services.install.commands(r.enrollment_token) };
    }),
  update: authedProcedure
    .meta({
      openapi: {
        method: 'PUT',
        path: '/agents/{id}',
        tags,
        summary: 'Rename, or disable (closes its session at once)',
      },
    })
    .input(z.object({ id: Id, name: Name.optional(), disabled: z.boolean().optional() }).strict())
    .output(AgentOutput)
    .mutation(({ ctx, input: { id, ...rest } }) => ctx.services.agents.update(id, rest)),
  delete: authedProcedure
    .meta({
      status: 204,
      openapi: {
        method: 'DELETE',
        path: '/agents/{id}',
        tags,
        summary: 'Delete (refused while devices or discovery profiles use it)',
      },
    })
    .input(IdInput)
    .output(z.void())
    .mutation(async ({ ctx, input }) => {
      await ctx.services.agents.remove(input.id);
    }),
});
