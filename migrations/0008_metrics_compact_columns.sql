-- Compact storage of the two values that cost most once compressed (bench/storage.mts): memory as the
-- whole KiB Windows reports (bytes are KiB * 1024, whose ten zero bits the integer codec cannot drop)
-- and the link bandwidth instead of the utilization derived from it (a noisy 4-decimal double costs
-- ~7 B per sample; a constant bandwidth ~0.1 B). New columns, nothing rewritten:
--   memory_total_kb / memory_used_kb  whole KiB; memory_total / memory_used keep a value that is not
--                                      a whole KiB (an external plugin's), and every row written before
--   net_bandwidth                     bits/s (sum of CurrentBandwidth); net_utilization keeps a value
--                                      sent without a bandwidth, and every row written before
-- The writer (server/metrics/write.ts) picks the column; `metrics_values` reads them back as the one
-- definition of the values in bytes and percent (the history queries and Grafana read it). On
-- TimescaleDB the continuous aggregates of 0002 are rebuilt on the same expressions, with the same
-- output columns: dropped and created again when the raw table still holds everything they hold (the
-- refresh policies set at start refill them; until then real-time aggregation answers from the raw
-- rows), or kept under a *_before_0008 name, their refresh stopped, when raw retention already
-- dropped samples they summarise (nothing is lost; the API reads the new ones).
-- This first statement is also run on every start by server/db/migrate.ts instead of 0002's (a
-- database restored into TimescaleDB gets these definitions), so it must stay idempotent.
DO $do$
DECLARE
  hyper boolean := false;
  oldest_raw timestamptz;
  oldest_agg timestamptz;
  v text;
BEGIN
  ALTER TABLE metrics ADD COLUMN IF NOT EXISTS memory_total_kb bigint;
  ALTER TABLE metrics ADD COLUMN IF NOT EXISTS memory_used_kb bigint;
  ALTER TABLE metrics ADD COLUMN IF NOT EXISTS net_bandwidth bigint;
  CREATE OR REPLACE VIEW metrics_values AS
    SELECT time, monitor_id, agent_seq, cpu_percent,
           coalesce(memory_total, memory_total_kb * 1024) AS memory_total,
           coalesce(memory_used, memory_used_kb * 1024) AS memory_used,
           disk_total, disk_used, net_sent_ps, net_recv_ps,
           coalesce(net_utilization, (net_sent_ps + net_recv_ps) * 800 / nullif(net_bandwidth, 0)) AS net_utilization,
           net_bandwidth, packets_sent, packets_recv, net_errors, net_dropped, process_count, collection_ms
      FROM metrics;

  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_schema = current_schema() AND hypertable_name = ''metrics'')' INTO hyper;
  END IF;
  IF NOT hyper THEN
    RETURN;
  END IF;

  -- Aggregates of 0002's definition (they read memory_used, not memory_used_kb): rebuilt.
  IF to_regclass('metrics_5m') IS NOT NULL
     AND position('memory_used_kb' IN pg_get_viewdef('metrics_5m'::regclass)) = 0 THEN
    SELECT min(time) INTO oldest_raw FROM metrics;
    EXECUTE 'SELECT min(bucket) FROM metrics_5m' INTO oldest_agg;
    IF to_regclass('metrics_1h') IS NOT NULL THEN
      EXECUTE 'SELECT least($1, min(bucket)) FROM metrics_1h' INTO oldest_agg USING oldest_agg;
    END IF;
    IF oldest_agg IS NOT NULL AND (oldest_raw IS NULL OR oldest_agg < time_bucket(INTERVAL '1 hour', oldest_raw)) THEN
      FOREACH v IN ARRAY ARRAY['metrics_1h', 'metrics_5m'] LOOP
        IF to_regclass(v) IS NOT NULL THEN
          PERFORM remove_continuous_aggregate_policy(v::regclass, if_exists => true);
          EXECUTE format('ALTER MATERIALIZED VIEW %I RENAME TO %I', v, v || '_before_0008');
        END IF;
      END LOOP;
      RAISE NOTICE 'continuous aggregates hold samples older than the raw table: kept as metrics_5m_before_0008 and metrics_1h_before_0008';
    ELSE
      DROP MATERIALIZED VIEW IF EXISTS metrics_1h;
      DROP MATERIALIZED VIEW IF EXISTS metrics_5m;
    END IF;
  END IF;

  IF to_regclass('metrics_5m') IS NULL THEN
    EXECUTE $v$
      CREATE MATERIALIZED VIEW metrics_5m WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
      SELECT time_bucket(INTERVAL '5 minutes', "time") AS bucket, monitor_id,
             count(*) AS samples,
             sum(cpu_percent) AS cpu_sum, count(cpu_percent) AS cpu_n, min(cpu_percent) AS cpu_min, max(cpu_percent) AS cpu_max,
             sum(coalesce(memory_total, memory_total_kb * 1024)::float8) AS memory_total_sum,
             count(coalesce(memory_total, memory_total_kb)) AS memory_total_n,
             sum(coalesce(memory_used, memory_used_kb * 1024)::float8) AS memory_used_sum,
             count(coalesce(memory_used, memory_used_kb)) AS memory_used_n,
             min(coalesce(memory_used, memory_used_kb * 1024)) AS memory_used_min,
             max(coalesce(memory_used, memory_used_kb * 1024)) AS memory_used_max,
             sum(disk_total::float8) AS disk_total_sum, count(disk_total) AS disk_total_n,
             sum(disk_used::float8) AS disk_used_sum, count(disk_used) AS disk_used_n, min(disk_used) AS disk_used_min, max(disk_used) AS disk_used_max,
             sum(net_sent_ps) AS net_sent_sum, count(net_sent_ps) AS net_sent_n, min(net_sent_ps) AS net_sent_min, max(net_sent_ps) AS net_sent_max,
             sum(net_recv_ps) AS net_recv_sum, count(net_recv_ps) AS net_recv_n, min(net_recv_ps) AS net_recv_min, max(net_recv_ps) AS net_recv_max,
             sum(coalesce(net_utilization, (net_sent_ps + net_recv_ps) * 800 / nullif(net_bandwidth, 0))) AS net_util_sum,
             count(coalesce(net_utilization, (net_sent_ps + net_recv_ps) * 800 / nullif(net_bandwidth, 0))) AS net_util_n,
             min(coalesce(net_utilization, (net_sent_ps + net_recv_ps) * 800 / nullif(net_bandwidth, 0))) AS net_util_min,
             max(coalesce(net_utilization, (net_sent_ps + net_recv_ps) * 800 / nullif(net_bandwidth, 0))) AS net_util_max,
             max(packets_sent) AS packets_sent_max, max(packets_recv) AS packets_recv_max, max(net_errors) AS net_errors_max, max(net_dropped) AS net_dropped_max,
             sum(process_count::float8) AS process_count_sum, count(process_count) AS process_count_n,
             sum(collection_ms::float8) AS collection_ms_sum, count(collection_ms) AS collection_ms_n
        FROM metrics
       GROUP BY 1, 2
      WITH NO DATA
    $v$;
  END IF;
  IF to_regclass('metrics_1h') IS NULL THEN
    EXECUTE $v$
      CREATE MATERIALIZED VIEW metrics_1h WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
      SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket, monitor_id,
             sum(samples)::bigint AS samples,
             sum(cpu_sum) AS cpu_sum, sum(cpu_n)::bigint AS cpu_n, min(cpu_min) AS cpu_min, max(cpu_max) AS cpu_max,
             sum(memory_total_sum) AS memory_total_sum, sum(memory_total_n)::bigint AS memory_total_n,
             sum(memory_used_sum) AS memory_used_sum, sum(memory_used_n)::bigint AS memory_used_n, min(memory_used_min) AS memory_used_min, max(memory_used_max) AS memory_used_max,
             sum(disk_total_sum) AS disk_total_sum, sum(disk_total_n)::bigint AS disk_total_n,
             sum(disk_used_sum) AS disk_used_sum, sum(disk_used_n)::bigint AS disk_used_n, min(disk_used_min) AS disk_used_min, max(disk_used_max) AS disk_used_max,
             sum(net_sent_sum) AS net_sent_sum, sum(net_sent_n)::bigint AS net_sent_n, min(net_sent_min) AS net_sent_min, max(net_sent_max) AS net_sent_max,
             sum(net_recv_sum) AS net_recv_sum, sum(net_recv_n)::bigint AS net_recv_n, min(net_recv_min) AS net_recv_min, max(net_recv_max) AS net_recv_max,
             sum(net_util_sum) AS net_util_sum, sum(net_util_n)::bigint AS net_util_n, min(net_util_min) AS net_util_min, max(net_util_max) AS net_util_max,
             max(packets_sent_max) AS packets_sent_max, max(packets_recv_max) AS packets_recv_max, max(net_errors_max) AS net_errors_max, max(net_dropped_max) AS net_dropped_max,
             sum(process_count_sum) AS process_count_sum, sum(process_count_n)::bigint AS process_count_n,
             sum(collection_ms_sum) AS collection_ms_sum, sum(collection_ms_n)::bigint AS collection_ms_n
        FROM metrics_5m
       GROUP BY 1, 2
      WITH NO DATA
    $v$;
  END IF;
  EXECUTE 'CREATE INDEX IF NOT EXISTS metrics_1h_bucket_monitor_cpu_max ON metrics_1h (bucket, monitor_id, cpu_max)';
  -- A deleted monitor's rows go from every aggregate's materialization hypertable (kept ones too), in
  -- the same transaction as the monitor (its raw rows go by ON DELETE CASCADE).
  EXECUTE $f$
    CREATE OR REPLACE FUNCTION nmslite_forget_monitor_aggregates() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
      mat record;
    BEGIN
      FOR mat IN SELECT materialization_hypertable_schema AS s, materialization_hypertable_name AS n
                   FROM timescaledb_information.continuous_aggregates
                  WHERE view_schema = TG_TABLE_SCHEMA
                    AND view_name IN ('metrics_5m', 'metrics_1h', 'metrics_5m_before_0008', 'metrics_1h_before_0008') LOOP
        EXECUTE format('DELETE FROM %I.%I WHERE monitor_id IN (SELECT id FROM gone)', mat.s, mat.n);
      END LOOP;
      RETURN NULL;
    END
    $fn$
  $f$;
  EXECUTE 'CREATE OR REPLACE TRIGGER monitors_forget_aggregates AFTER DELETE ON monitors REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION nmslite_forget_monitor_aggregates()';
END
$do$;
