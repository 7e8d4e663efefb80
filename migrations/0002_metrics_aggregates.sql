-- TimescaleDB only (nothing happens on plain PostgreSQL): hierarchical continuous aggregates of
-- `metrics` at 5 minutes (from the raw table) and 1 hour (from the 5-minute one), with real-time
-- aggregation (materialized_only = false: the not yet materialized tail is computed from the layer
-- below at query time). Averages are kept as sum + count of non-null values, so a coarser layer and
-- the history query recombine them exactly; min and max beside them keep peaks visible; the counters
-- (packets, errors, dropped) keep their max. Created WITH NO DATA (allowed inside the migration's
-- transaction); the refresh policies set at start (server/metrics/retention.ts) fill them.
-- A statement trigger on `monitors` removes a deleted monitor's rows from both aggregates (its raw
-- rows go by ON DELETE CASCADE). This first statement is also run on every start by
-- server/db/migrate.ts, like 0001's, so it must stay idempotent.
DO $do$
DECLARE
  hyper boolean := false;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_schema = current_schema() AND hypertable_name = ''metrics'')' INTO hyper;
  END IF;
  IF NOT hyper THEN
    RETURN;
  END IF;
  IF to_regclass('metrics_5m') IS NULL THEN
    EXECUTE $v$
      CREATE MATERIALIZED VIEW metrics_5m WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
      SELECT time_bucket(INTERVAL '5 minutes', "time") AS bucket, monitor_id,
             count(*) AS samples,
             sum(cpu_percent) AS cpu_sum, count(cpu_percent) AS cpu_n, min(cpu_percent) AS cpu_min, max(cpu_percent) AS cpu_max,
             sum(memory_total::float8) AS memory_total_sum, count(memory_total) AS memory_total_n,
             sum(memory_used::float8) AS memory_used_sum, count(memory_used) AS memory_used_n, min(memory_used) AS memory_used_min, max(memory_used) AS memory_used_max,
             sum(disk_total::float8) AS disk_total_sum, count(disk_total) AS disk_total_n,
             sum(disk_used::float8) AS disk_used_sum, count(disk_used) AS disk_used_n, min(disk_used) AS disk_used_min, max(disk_used) AS disk_used_max,
             sum(net_sent_ps) AS net_sent_sum, count(net_sent_ps) AS net_sent_n, min(net_sent_ps) AS net_sent_min, max(net_sent_ps) AS net_sent_max,
             sum(net_recv_ps) AS net_recv_sum, count(net_recv_ps) AS net_recv_n, min(net_recv_ps) AS net_recv_min, max(net_recv_ps) AS net_recv_max,
             sum(net_utilization) AS net_util_sum, count(net_utilization) AS net_util_n, min(net_utilization) AS net_util_min, max(net_utilization) AS net_util_max,
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
  -- The fleet-wide questions (top N by peak CPU over a day) read only these three columns of the
  -- 1-hour layer: an index-only scan instead of every wide row (about 0.6 B per raw sample).
  EXECUTE 'CREATE INDEX IF NOT EXISTS metrics_1h_bucket_monitor_cpu_max ON metrics_1h (bucket, monitor_id, cpu_max)';
  -- The aggregates cannot be deleted from through their views: the rows go from their
  -- materialization hypertables, in the same transaction as the monitor.
  EXECUTE $f$
    CREATE OR REPLACE FUNCTION nmslite_forget_monitor_aggregates() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
      mat record;
    BEGIN
      FOR mat IN SELECT materialization_hypertable_schema AS s, materialization_hypertable_name AS n
                   FROM timescaledb_information.continuous_aggregates
                  WHERE view_schema = TG_TABLE_SCHEMA AND view_name IN ('metrics_5m', 'metrics_1h') LOOP
        EXECUTE format('DELETE FROM %I.%I WHERE monitor_id IN (SELECT id FROM gone)', mat.s, mat.n);
      END LOOP;
      RETURN NULL;
    END
    $fn$
  $f$;
  EXECUTE 'CREATE OR REPLACE TRIGGER monitors_forget_aggregates AFTER DELETE ON monitors REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION nmslite_forget_monitor_aggregates()';
END
$do$;
