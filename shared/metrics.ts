import { z } from 'zod';

/** PostgreSQL `integer`: a value above it would make the database refuse the whole batch. */
export const PG_INT_MAX = 2147483647;

/**
 * One metric sample as it travels and the metrics table stores it.
 * Raw totals only (bytes, counts); percentages of memory and disk are derived at query time.
 * Integer byte counts travel as JSON numbers: every value fits in 2^53 (8 PiB).
 * The wire form is lenient where the database is not: a value PostgreSQL refuses is dropped by the
 * server's writer result by result, never by refusing the whole message (which the agent would
 * resend forever).
 */
export const MetricSampleWire = z
  .object({
    cpu_percent: z.number().min(0).max(100).nullable(),
    memory_total: z.number().int().nonnegative().nullable(),
    memory_used: z.number().int().nonnegative().nullable(),
    disk_total: z.number().int().nonnegative().nullable(),
    disk_used: z.number().int().nonnegative().nullable(),
    net_sent_ps: z.number().nonnegative().nullable(),
    net_recv_ps: z.number().nonnegative().nullable(),
    net_utilization: z.number().min(0).nullable(),
    /**
     * Link bandwidth in bits/s (sum of the interfaces' CurrentBandwidth). When present the server
     * stores it instead of net_utilization, which it derives again at read time (migration 0008).
     */
    net_bandwidth: z.number().int().nonnegative().nullable().optional(),
    packets_sent: z.number().int().nonnegative().nullable(),
    packets_recv: z.number().int().nonnegative().nullable(),
    net_errors: z.number().int().nonnegative().nullable(),
    net_dropped: z.number().int().nonnegative().nullable(),
    process_count: z.number().int().nonnegative().nullable(),
    collection_ms: z.number().int().nonnegative(),
  })
  .strict();

/** A sample as an agent collects it: also within what the database stores (integer columns). */
export const MetricSample = MetricSampleWire.extend({
  process_count: z.number().int().nonnegative().max(PG_INT_MAX).nullable(),
  collection_ms: z.number().int().nonnegative().max(PG_INT_MAX),
}).strict();
export type MetricSample = z.infer<typeof MetricSample>;

export const METRIC_FIELDS = Object.keys(MetricSample.shape) as (keyof MetricSample)[];
