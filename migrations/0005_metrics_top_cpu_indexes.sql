-- TimescaleDB only (nothing happens without the aggregates of 0002): indexes on (bucket, cpu_max
-- DESC NULLS LAST, monitor_id) of both aggregates, so one bucket's top N monitors by peak CPU is a
-- short index scan (server/metrics/query.ts topPeakCpu reads each bucket's top N, not every row).
-- Also run on every start by server/db/migrate.ts, after 0002's statement (which may create the
-- aggregates late, on a database restored into TimescaleDB), so it must stay idempotent.
DO $do$
BEGIN
  IF to_regclass('metrics_5m') IS NULL OR to_regclass('metrics_1h') IS NULL THEN
    RETURN;
  END IF;
  EXECUTE 'CREATE INDEX IF NOT EXISTS metrics_5m_bucket_cpu_max_top ON metrics_5m (bucket, cpu_max DESC NULLS LAST, monitor_id)';
  EXECUTE 'CREATE INDEX IF NOT EXISTS metrics_1h_bucket_cpu_max_top ON metrics_1h (bucket, cpu_max DESC NULLS LAST, monitor_id)';
END
$do$;
