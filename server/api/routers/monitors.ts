import { z } from 'zod';
import { AppError } from '../../errors.ts';
import { authedProcedure, router } from '../trpc.ts';
import { Id, IdInput, PageInput, PollingInterval } from '../schemas.ts';

export const MonitorCreate = z
  .object({
    device_id: Id,
    credential_profile_id: Id,
    plugin_id: Id,
    polling_interval: PollingInterval.optional(),
    enabled: z.boolean().optional(),
  })
  .strict();
export const MonitorUpdate = z
  .object({
    id: Id,
    credential_profile_id: Id.optional(),
    plugin_id: Id.optional(),
    polling_interval: PollingInterval.optional(),
    enabled: z.boolean().optional(),
  })
  .strict();
export const MonitorOutput = z.object({
  id: z.number(),
  device_id: z.number(),
  credential_profile_id: z.number(),
  plugin_id: z.number(),
  polling_interval: z.number(),
  enabled: z.boolean(),
  last_polled: z.string().nullable(),
  last_attempted: z.string().nullable(),
  last_error: z.string().nullable(),
  last_error_class: z.string().nullable(),
  last_error_at: z.string().nullable(),
  consecutive_failures: z.number(),
  created_at: z.string(),
  updated_at: z.string(),
});
const n = z.number().nullable();
export const MetricsPointOutput = z.object({
  timestamp: z.string(),
  cpu: z.object({ usage_percent: n }),
  memory: z.object({ total_bytes: n, used_bytes: n, usage_percent: n }),
  disk: z.object({ total_bytes: n, used_bytes: n, usage_percent: n }),
  network: z.object({
    bytes_sent_per_sec: n,
    bytes_recv_per_sec: n,
    utilization_percent: n,
    packets_sent: n,
    packets_recv: n,
    errors: n,
    dropped: n,
  }),
  process_count: n,
  collection_ms: n,
});
export const LatestMetricsOutput = MetricsPointOutput.extend({ monitor_id: z.number() });
export const HistoryInput = z
  .object({
    id: Id,
    from: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time like 2026-11-23T10:00:00Z' }),
    to: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time like 2026-11-23T10:00:00Z' }).optional(),
    bucket: z
      .string()
      .regex(/^\d{1,6}(s|m|h|d)$/, 'must be a duration like 30s, 5m, 1h or 1d')
      .optional(),
  })
  .strict();
export const PollNowOutput = z.union([
  z.object({
    monitor_id: z.number(),
    time: z.string(),
    ok: z.literal(true),
    attempts: z.number(),
    metrics: MetricsPointOutput,
  }),
  z.object({
    monitor_id: z.number(),
    time: z.string(),
    ok: z.literal(false),
    attempts: z.number(),
    failure: z.object({ class: z.string(), message: z.string(), code: z.string().optional() }),
  }),
]);
/** Minimum or maximum of the gauges within a bucket (percentages of the bucket's average total). */
const MetricsExtremesOutput = z.object({
  cpu: z.object({ usage_percent: n }),
  memory: z.object({ used_bytes: n, usage_percent: n }),
  disk: z.object({ used_bytes: n, usage_percent: n }),
  network: z.object({ bytes_sent_per_sec: n, bytes_recv_per_sec: n, utilization_percent: n }),
});
/** A raw sample (no bucket asked), or a bucket: averages (counters: max) plus samples, min and max. */
const HistoryPointOutput = MetricsPointOutput.extend({
  samples: z.number().int().optional(),
  min: MetricsExtremesOutput.optional(),
  max: MetricsExtremesOutput.optional(),
});
export const HistoryOutput = z.object({
  monitor_id: z.number(),
  from: z.string(),
  to: z.string(),
  bucket: z.string().nullable(),
  /** Which table answered: raw samples, or the 5-minute or 1-hour continuous aggregate (TimescaleDB). */
  source: z.enum(['raw', '5m', '1h']),
  data: z.array(HistoryPointOutput),
});

const tags = ['monitors'];
export const monitorsRouter = router({
  list: authedProcedure
    .meta({ openapi: { method: 'GET', path: '/monitors', tags, summary: 'List monitors with their poll state' } })
    .input(PageInput.extend({ device_id: Id.optional() }).strict())
    .output(z.array(MonitorOutput))
    .query(({ ctx, input }) => ctx.services.monitors.list(input)),
  get: authedProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/monitors/{id}',
        tags,
        summary: 'Get one monitor with its poll state and last error',
      },
    })
    .input(IdInput)
    .output(MonitorOutput)
    .query(({ ctx, input }) => ctx.services.monitors.get(input.id)),
  create: authedProcedure
    .meta({
      status: 201,
      openapi: {
        method: 'POST',
        path: '/monitors',
        tags,
        summary: 'Provision a device: device + credential profile + plugin + interval',
      },
    })
    .input(MonitorCreate)
    .output(MonitorOutput)
    .mutation(({ ctx, input }) => ctx.services.monitors.create(input)),
  update: authedProcedure
    .meta({
      openapi: {
        method: 'PUT',
        path: '/monitors/{id}',
        tags,
        summary: 'Update a monitor: interval, enabled, credential profile or plugin',
      },
    })
    .input(MonitorUpdate)
    .output(MonitorOutput)
    .mutation(({ ctx, input: { id, ...rest } }) => ctx.services.monitors.update(id, rest)),
  delete: authedProcedure
    .meta({
      status: 204,
      openapi: { method: 'DELETE', path: '/monitors/{id}', tags, summary: 'Delete a monitor and its metrics' },
    })
    .input(IdInput)
    .output(z.void())
    .mutation(async ({ ctx, input }) => {
      await ctx.services.monitors.remove(input.id);
    }),
  poll: authedProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/monitors/{id}/poll',
        tags,
        summary: "Poll now through the monitor's agent: the metrics or the classified failure (not stored)",
      },
    })
    .input(IdInput)
    .output(PollNowOutput)
    .mutation(({ ctx, input }) => ctx.services.monitorPolls.poll(input.id)),
  latestMetrics: authedProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/monitors/{id}/metrics',
        tags,
        summary: 'Latest sample with derived percentages',
      },
    })
    .input(IdInput)
    .output(LatestMetricsOutput)
    .query(async ({ ctx, input }) => {
      await ctx.services.monitors.getRow(input.id);
      const p = await ctx.services.metrics.latest(input.id);
      if (!p) throw new AppError('NOT_FOUND', 'no metrics yet for this monitor', { monitor_id: input.id });
      return { monitor_id: input.id, ...p };
    }),
  metricsHistory: authedProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/monitors/{id}/metrics/history',
        tags,
        summary: 'Raw samples, or per bucket (e.g. bucket=5m) the average, min and max; source says raw, 5m or 1h',
      },
    })
    .input(HistoryInput)
    .output(HistoryOutput)
    .query(async ({ ctx, input }) => {
      await ctx.services.monitors.getRow(input.id);
      const to = input.to ? new Date(input.to) : new Date();
      const from = new Date(input.from);
      const r = await ctx.services.metrics.history(input.id, from, to, input.bucket);
      return {
        monitor_id: input.id,
        from: from.toISOString(),
        to: to.toISOString(),
        bucket: r.bucket,
        source: r.source,
        data: r.points,
      };
    }),
});
