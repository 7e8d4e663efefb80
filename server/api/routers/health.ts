import { z } from 'zod';
import { publicProcedure, router } from '../trpc.ts';

export const HealthOutput = z.object({
  status: z.enum(['ok', 'degraded']),
  database: z.enum(['ok', 'unavailable']),
  storage_mode: z.enum(['timescaledb', 'plain']),
  version: z.string(),
  time: z.string(),
});

export const healthRouter = router({
  get: publicProcedure
    .meta({
      openapi: { method: 'GET', path: '/health', tags: ['health'], summary: 'Health check (no auth)', protect: false },
    })
    .input(z.object({}).strict().optional())
    .output(HealthOutput)
    .query(({ ctx }) => ctx.services.health()),
});
