-- Metrics storage: a TimescaleDB hypertable when the extension can be created, a plain table otherwise.
-- CREATE EXTENSION timescaledb fails unless the library is preloaded, so both are checked first.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
     AND current_setting('shared_preload_libraries', true) ILIKE '%timescaledb%' THEN
    CREATE EXTENSION IF NOT EXISTS timescaledb;
    PERFORM create_hypertable('metrics', 'time', create_default_indexes => false, if_not_exists => true, migrate_data => true);
  END IF;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION nmslite_storage_mode() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN 'timescaledb' ELSE 'plain' END
$$;
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "metrics_time_idx" ON "metrics" ("time");
--> statement-breakpoint
ALTER TABLE "monitors" ADD CONSTRAINT "monitors_interval_check" CHECK ("polling_interval" BETWEEN 10 AND 86400);
--> statement-breakpoint
ALTER TABLE "credential_profiles" ADD CONSTRAINT "credential_profiles_port_check" CHECK ("port" BETWEEN 1 AND 65535);
--> statement-breakpoint
INSERT INTO "plugins" ("name", "type", "description", "config", "builtin") VALUES
  ('windows-wmi', 'windows-wmi', 'CPU, memory, disk, network and process metrics from WMI classes over WS-Management', '{}'::jsonb, true),
  ('windows-powershell', 'windows-powershell', 'The same metrics from one PowerShell script run through a WinRM shell', '{}'::jsonb, true)
ON CONFLICT ("name") DO NOTHING;
