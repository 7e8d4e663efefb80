CREATE TABLE "agents" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"enrollment_token_hash" text,
	"enrollment_expires_at" timestamp with time zone,
	"sign_public_key" text,
	"seal_public_key" text,
	"version" text,
	"hostname" text,
	"last_seen" timestamp with time zone,
	"enrolled_at" timestamp with time zone,
	"health" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "agents_name_unique" UNIQUE("name"),
	CONSTRAINT "agents_enrollment_token_hash_unique" UNIQUE("enrollment_token_hash")
);
--> statement-breakpoint
CREATE TABLE "credential_profiles" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"type" text NOT NULL,
	"username" text NOT NULL,
	"password_enc" text NOT NULL,
	"key_id" text NOT NULL,
	"domain" text,
	"port" integer NOT NULL,
	"use_ssl" boolean DEFAULT false NOT NULL,
	"tls_verify" text DEFAULT 'verify' NOT NULL,
	"tls_fingerprint" text,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credential_profiles_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "devices" (
	"id" serial PRIMARY KEY NOT NULL,
	"agent_id" integer NOT NULL,
	"ip" text NOT NULL,
	"port" integer DEFAULT 5985 NOT NULL,
	"use_ssl" boolean DEFAULT false NOT NULL,
	"hostname" text,
	"os" text,
	"os_version" text,
	"status" text DEFAULT 'discovered' NOT NULL,
	"discovery_profile_id" integer,
	"last_seen" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "discovery_profiles" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"agent_id" integer NOT NULL,
	"credential_profile_id" integer NOT NULL,
	"target" text NOT NULL,
	"port_scan" boolean DEFAULT false NOT NULL,
	"auto_provision" boolean DEFAULT false NOT NULL,
	"plugin_id" integer,
	"polling_interval" integer DEFAULT 60 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "discovery_profiles_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "metrics" (
	"time" timestamp with time zone NOT NULL,
	"monitor_id" integer NOT NULL,
	"agent_seq" bigint,
	"cpu_percent" double precision,
	"memory_total" bigint,
	"memory_used" bigint,
	"disk_total" bigint,
	"disk_used" bigint,
	"net_sent_ps" double precision,
	"net_recv_ps" double precision,
	"net_utilization" double precision,
	"packets_sent" bigint,
	"packets_recv" bigint,
	"net_errors" bigint,
	"net_dropped" bigint,
	"process_count" integer,
	"collection_ms" integer
);
--> statement-breakpoint
CREATE TABLE "monitors" (
	"id" serial PRIMARY KEY NOT NULL,
	"device_id" integer NOT NULL,
	"credential_profile_id" integer NOT NULL,
	"plugin_id" integer NOT NULL,
	"polling_interval" integer NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"last_polled" timestamp with time zone,
	"last_attempted" timestamp with time zone,
	"last_error" text,
	"last_error_class" text,
	"last_error_at" timestamp with time zone,
	"consecutive_failures" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "plugins" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"type" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"config" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"builtin" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "plugins_name_unique" UNIQUE("name")
);
--> statement-breakpoint
ALTER TABLE "devices" ADD CONSTRAINT "devices_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "devices" ADD CONSTRAINT "devices_discovery_profile_id_discovery_profiles_id_fk" FOREIGN KEY ("discovery_profile_id") REFERENCES "public"."discovery_profiles"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "discovery_profiles" ADD CONSTRAINT "discovery_profiles_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "discovery_profiles" ADD CONSTRAINT "discovery_profiles_credential_profile_id_credential_profiles_id_fk" FOREIGN KEY ("credential_profile_id") REFERENCES "public"."credential_profiles"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "discovery_profiles" ADD CONSTRAINT "discovery_profiles_plugin_id_plugins_id_fk" FOREIGN KEY ("plugin_id") REFERENCES "public"."plugins"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "metrics" ADD CONSTRAINT "metrics_monitor_id_monitors_id_fk" FOREIGN KEY ("monitor_id") REFERENCES "public"."monitors"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "monitors" ADD CONSTRAINT "monitors_device_id_devices_id_fk" FOREIGN KEY ("device_id") REFERENCES "public"."devices"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "monitors" ADD CONSTRAINT "monitors_credential_profile_id_credential_profiles_id_fk" FOREIGN KEY ("credential_profile_id") REFERENCES "public"."credential_profiles"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "monitors" ADD CONSTRAINT "monitors_plugin_id_plugins_id_fk" FOREIGN KEY ("plugin_id") REFERENCES "public"."plugins"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "devices_agent_ip_key" ON "devices" USING btree ("agent_id","ip");--> statement-breakpoint
CREATE UNIQUE INDEX "metrics_monitor_time_key" ON "metrics" USING btree ("monitor_id","time");--> statement-breakpoint
CREATE INDEX "monitors_device_idx" ON "monitors" USING btree ("device_id");--> statement-breakpoint
CREATE INDEX "monitors_credential_idx" ON "monitors" USING btree ("credential_profile_id");--> statement-breakpoint
CREATE INDEX "monitors_plugin_idx" ON "monitors" USING btree ("plugin_id");