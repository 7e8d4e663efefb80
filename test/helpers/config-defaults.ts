import { parseConfig } from '../../server/config.ts';

/**
 * The server's defaults, parsed from the config schema (server/config.ts, the only place they are
 * written), for tests and benchmarks that build a module without the whole server. Each group maps
 * settings to a module's options as server/server.ts does.
 */
export const CONFIG_DEFAULTS = parseConfig({});

const m = CONFIG_DEFAULTS.metrics;

/** createMetricsWriter's settings. */
export const WRITER_DEFAULTS = Object.freeze({
  batchSize: m.writer_batch,
  flushMs: m.writer_flush_ms,
  maxQueued: m.writer_max_queued,
  maxWaitMs: m.writer_max_wait_s * 1000,
});

/** applyRetention's TimescaleDB layout settings. */
export const RETENTION_DEFAULTS = Object.freeze({
  chunkIntervalHours: m.chunk_interval_h,
  aggregates: Object.freeze({
    retention5mDays: m.aggregate_5m_retention_days,
    retention1hDays: m.aggregate_1h_retention_days,
    compressAfterDays: m.aggregate_compress_after_days,
  }),
});
