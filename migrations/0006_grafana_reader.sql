-- The read-only role Grafana's data source logs in as (grafana/provisioning/datasources/nmslite.yaml).
-- Created NOLOGIN: the server gives it LOGIN and a password at start when NMSLITE_GRAFANA_DB_PASSWORD
-- is set (server/db/grafana-reader.ts). A role belongs to the whole cluster, its grants to this
-- database. It may SELECT only what the dashboards read; never credential_profiles, discovery
-- profiles, the audit log, the migrations journal, nor agents' enrollment token hashes and keys, nor
-- plugin configurations. Every transaction it opens is read-only by default as a second fence.
-- The dashboards read metrics through grafana_metrics() and grafana_metrics_1h() (below), the same SQL
-- on both backends. Grants on relations a later migration rebuilds (the aggregates, metrics_values)
-- are lost with them: this statement grants them again.
-- This first statement is also run on every start by server/db/migrate.ts, after 0002's (which may
-- create the aggregates late, on a database restored into TimescaleDB), so it must stay idempotent.
-- A server whose database user may not create roles starts without the reader (a warning).
DO $do$
DECLARE
  created boolean := false;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nmslite_grafana') THEN
    BEGIN
      CREATE ROLE nmslite_grafana NOLOGIN;
      created := true;
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN NULL; -- another database of this cluster made it just now
      WHEN insufficient_privilege THEN
        RAISE WARNING 'nmslite_grafana not created: the migrating user may not create roles (Grafana reader unavailable)';
        RETURN;
    END;
  END IF;
  IF created THEN
    EXECUTE 'ALTER ROLE nmslite_grafana SET default_transaction_read_only = on';
  END IF;
  -- The dashboards' two sources, chosen when called (plpgsql EXECUTE: no dependency on a relation, so
  -- migrations may rebuild the aggregates or the raw table's columns under them): raw samples in bytes
  -- and percent (`metrics_values` where it exists, else `metrics`), and per hour min/avg/max (the
  -- 1-hour continuous aggregate on TimescaleDB, the raw rows grouped by UTC hour on plain PostgreSQL).
  -- SECURITY INVOKER: the caller's own SELECT grants apply. monitor_ids NULL: every monitor.
  EXECUTE $f$
    CREATE OR REPLACE FUNCTION grafana_metrics(range_from timestamptz, range_to timestamptz, monitor_ids int[] DEFAULT NULL)
    RETURNS TABLE ("time" timestamptz, monitor_id int, cpu_percent float8, memory_total float8, memory_used float8,
                   disk_total float8, disk_used float8, net_sent_ps float8, net_recv_ps float8)
    LANGUAGE plpgsql STABLE AS $fn$
    BEGIN
      RETURN QUERY EXECUTE format(
        'SELECT "time", monitor_id, cpu_percent::float8, memory_total::float8, memory_used::float8, disk_total::float8,'
        ' disk_used::float8, net_sent_ps::float8, net_recv_ps::float8 FROM %I'
        ' WHERE "time" >= $1 AND "time" <= $2 AND ($3 IS NULL OR monitor_id = ANY($3))',
        CASE WHEN to_regclass('metrics_values') IS NULL THEN 'metrics' ELSE 'metrics_values' END)
        USING range_from, range_to, monitor_ids;
    END
    $fn$
  $f$;
  EXECUTE $f$
    CREATE OR REPLACE FUNCTION grafana_metrics_1h(range_from timestamptz, range_to timestamptz, monitor_ids int[] DEFAULT NULL)
    RETURNS TABLE (bucket timestamptz, monitor_id int, cpu_min float8, cpu_avg float8, cpu_max float8,
                   memory_total_avg float8, memory_used_min float8, memory_used_avg float8, memory_used_max float8,
                   disk_total_avg float8, disk_used_min float8, disk_used_avg float8, disk_used_max float8,
                   net_sent_min float8, net_sent_avg float8, net_sent_max float8, net_recv_min float8, net_recv_avg float8, net_recv_max float8)
    LANGUAGE plpgsql STABLE AS $fn$
    BEGIN
      IF to_regclass('metrics_1h') IS NOT NULL THEN
        RETURN QUERY EXECUTE
          'SELECT bucket, monitor_id, cpu_min::float8, (cpu_sum / nullif(cpu_n, 0))::float8, cpu_max::float8,'
          ' (memory_total_sum / nullif(memory_total_n, 0))::float8,'
          ' memory_used_min::float8, (memory_used_sum / nullif(memory_used_n, 0))::float8, memory_used_max::float8,'
          ' (disk_total_sum / nullif(disk_total_n, 0))::float8,'
          ' disk_used_min::float8, (disk_used_sum / nullif(disk_used_n, 0))::float8, disk_used_max::float8,'
          ' net_sent_min::float8, (net_sent_sum / nullif(net_sent_n, 0))::float8, net_sent_max::float8,'
          ' net_recv_min::float8, (net_recv_sum / nullif(net_recv_n, 0))::float8, net_recv_max::float8'
          ' FROM metrics_1h WHERE bucket >= time_bucket(INTERVAL ''1 hour'', $1) AND bucket <= $2 AND ($3 IS NULL OR monitor_id = ANY($3))'
          USING range_from, range_to, monitor_ids;
        RETURN;
      END IF;
      RETURN QUERY EXECUTE format(
        'SELECT date_trunc(''hour'', "time", ''UTC''), monitor_id,'
        ' min(cpu_percent)::float8, avg(cpu_percent)::float8, max(cpu_percent)::float8, avg(memory_total)::float8,'
        ' min(memory_used)::float8, avg(memory_used)::float8, max(memory_used)::float8, avg(disk_total)::float8,'
        ' min(disk_used)::float8, avg(disk_used)::float8, max(disk_used)::float8,'
        ' min(net_sent_ps)::float8, avg(net_sent_ps)::float8, max(net_sent_ps)::float8,'
        ' min(net_recv_ps)::float8, avg(net_recv_ps)::float8, max(net_recv_ps)::float8'
        ' FROM %I WHERE "time" >= date_trunc(''hour'', $1, ''UTC'') AND "time" <= $2 AND ($3 IS NULL OR monitor_id = ANY($3))'
        ' GROUP BY 1, 2',
        CASE WHEN to_regclass('metrics_values') IS NULL THEN 'metrics' ELSE 'metrics_values' END)
        USING range_from, range_to, monitor_ids;
    END
    $fn$
  $f$;
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO nmslite_grafana', current_schema());
  EXECUTE 'GRANT SELECT ON metrics, devices TO nmslite_grafana';
  IF to_regclass('metrics_values') IS NOT NULL THEN
    EXECUTE 'GRANT SELECT ON metrics_values TO nmslite_grafana';
  END IF;
  EXECUTE 'GRANT SELECT (id, name, status, version, hostname, last_seen, enrolled_at, health, created_at, updated_at) ON agents TO nmslite_grafana';
  EXECUTE 'GRANT SELECT (id, device_id, plugin_id, polling_interval, enabled, last_polled, last_attempted, last_error, last_error_class,'
       || ' last_error_at, consecutive_failures, created_at, updated_at) ON monitors TO nmslite_grafana';
  EXECUTE 'GRANT SELECT (id, name, type, builtin) ON plugins TO nmslite_grafana';
  IF to_regclass('metrics_5m') IS NOT NULL AND to_regclass('metrics_1h') IS NOT NULL THEN
    EXECUTE 'GRANT SELECT ON metrics_5m, metrics_1h TO nmslite_grafana';
  END IF;
END
$do$;
