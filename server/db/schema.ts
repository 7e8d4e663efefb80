import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  serial,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import type { Failure } from '../../shared/failures.ts';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
const stamps = {
  created_at: ts('created_at').notNull().defaultNow(),
  updated_at: ts('updated_at').notNull().defaultNow(),
};

export const agents = pgTable('agents', {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
  status: text('status', { enum: ['pending', 'active', 'disabled'] })
    .notNull()
    .default('pending'),
  enrollment_token_hash: text('enrollment_token_hash').unique(),
  enrollment_expires_at: ts('enrollment_expires_at'),
  sign_public_key: text('sign_public_key'),
  seal_public_key: text('seal_public_key'),
  version: text('version'),
  hostname: text('hostname'),
  last_seen: ts('last_seen'),
  enrolled_at: ts('enrolled_at'),
  health: jsonb('health'),
  ...stamps,
});

export const credentialProfiles = pgTable('credential_profiles', {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
  type: text('type', { enum: ['winrm_basic', 'winrm_ntlm'] }).notNull(),
  username: text('username').notNull(),
  password_enc: text('password_enc').notNull(),
  key_id: text('key_id').notNull(),
  domain: text('domain'),
  port: integer('port').notNull(),
  use_ssl: boolean('use_ssl').notNull().default(false),
  tls_verify: text('tls_verify', { enum: ['verify', 'pin', 'insecure'] })
    .notNull()
    .default('verify'),
  tls_fingerprint: text('tls_fingerprint'),
  version: integer('version').notNull().default(1),
  ...stamps,
});

export const plugins = pgTable('plugins', {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
  type: text('type', { enum: ['windows-wmi', 'windows-powershell', 'external'] }).notNull(),
  description: text('description').notNull().default(''),
  config: jsonb('config').notNull().default(sql`'{}'::jsonb`),
  builtin: boolean('builtin').notNull().default(false),
  ...stamps,
});

export const discoveryProfiles = pgTable('discovery_profiles', {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
  agent_id: integer('agent_id')
    .notNull()
    .references(() => agents.id),
  credential_profile_id: integer('credential_profile_id')
    .notNull()
    .references(() => credentialProfiles.id),
  target: text('target').notNull(),
  port_scan: boolean('port_scan').notNull().default(false),
  auto_provision: boolean('auto_provision').notNull().default(false),
  plugin_id: integer('plugin_id').references(() => plugins.id),
  polling_interval: integer('polling_interval').notNull().default(60),
  /** Send the credential also to hosts discovery cannot prove (WinRM over HTTP, unchecked HTTPS): an explicit, documented risk. */
  authenticate_unverified: boolean('authenticate_unverified').notNull().default(false),
  ...stamps,
});

export const devices = pgTable(
  'devices',
  {
    id: serial('id').primaryKey(),
    agent_id: integer('agent_id')
      .notNull()
      .references(() => agents.id),
    ip: text('ip').notNull(),
    port: integer('port').notNull().default(5985),
    use_ssl: boolean('use_ssl').notNull().default(false),
    hostname: text('hostname'),
    os: text('os'),
    os_version: text('os_version'),
    status: text('status', { enum: ['discovered', 'active', 'inactive', 'unreachable'] })
      .notNull()
      .default('discovered'),
    discovery_profile_id: integer('discovery_profile_id').references(() => discoveryProfiles.id, {
      onDelete: 'set null',
    }),
    last_seen: ts('last_seen'),
    /** Why the last discovery that found it could not query it with the credential (migration 0007); null: it could, or had none. */
    discovery_error: jsonb('discovery_error').$type<Failure>(),
    ...stamps,
  },
  (t) => [uniqueIndex('devices_agent_ip_key').on(t.agent_id, t.ip)],
);

export const monitors = pgTable(
  'monitors',
  {
    id: serial('id').primaryKey(),
    device_id: integer('device_id')
      .notNull()
      .references(() => devices.id),
    credential_profile_id: integer('credential_profile_id')
      .notNull()
      .references(() => credentialProfiles.id),
    plugin_id: integer('plugin_id')
      .notNull()
      .references(() => plugins.id),
    polling_interval: integer('polling_interval').notNull(),
    enabled: boolean('enabled').notNull().default(true),
    last_polled: ts('last_polled'),
    last_attempted: ts('last_attempted'),
    last_error: text('last_error'),
    last_error_class: text('last_error_class'),
    last_error_at: ts('last_error_at'),
    consecutive_failures: integer('consecutive_failures').notNull().default(0),
    ...stamps,
  },
  (t) => [
    index('monitors_device_idx').on(t.device_id),
    index('monitors_credential_idx').on(t.credential_profile_id),
    index('monitors_plugin_idx').on(t.plugin_id),
  ],
);

/**
 * Columns mirror shared/metrics.ts MetricSample; percentages are derived at query time. Memory is
 * stored as whole KiB (memory_*_kb; the byte columns keep a value that is not a whole KiB) and the
 * link bandwidth instead of the utilization (kept only when sent without one): migration 0008. Read
 * them through the `metrics_values` view, which gives bytes and percent.
 */
export const metrics = pgTable(
  'metrics',
  {
    time: ts('time').notNull(),
    monitor_id: integer('monitor_id')
      .notNull()
      .references(() => monitors.id, { onDelete: 'cascade' }),
    agent_seq: bigint('agent_seq', { mode: 'number' }),
    cpu_percent: doublePrecision('cpu_percent'),
    memory_total: bigint('memory_total', { mode: 'number' }),
    memory_used: bigint('memory_used', { mode: 'number' }),
    memory_total_kb: bigint('memory_total_kb', { mode: 'number' }),
    memory_used_kb: bigint('memory_used_kb', { mode: 'number' }),
    disk_total: bigint('disk_total', { mode: 'number' }),
    disk_used: bigint('disk_used', { mode: 'number' }),
    net_sent_ps: doublePrecision('net_sent_ps'),
    net_recv_ps: doublePrecision('net_recv_ps'),
    net_utilization: doublePrecision('net_utilization'),
    net_bandwidth: bigint('net_bandwidth', { mode: 'number' }),
    packets_sent: bigint('packets_sent', { mode: 'number' }),
    packets_recv: bigint('packets_recv', { mode: 'number' }),
    net_errors: bigint('net_errors', { mode: 'number' }),
    net_dropped: bigint('net_dropped', { mode: 'number' }),
    process_count: integer('process_count'),
    collection_ms: integer('collection_ms'),
  },
  (t) => [uniqueIndex('metrics_monitor_time_key').on(t.monitor_id, t.time)],
);

/**
 * Every change made through the API or by the server itself, written in the same transaction as the
 * change (server/audit). `changes` holds only allow-listed fields: never a password, token or key.
 */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    time: ts('time').notNull().defaultNow(),
    /** The admin's username, `agent: <name>`, or `system: health monitor` / `system: discovery`. */
    actor: text('actor').notNull(),
    /** The request's remote address; null for the server's own changes. */
    source_address: text('source_address'),
    entity_type: text('entity_type').notNull(),
    entity_id: integer('entity_id'),
    action: text('action').notNull(),
    changes: jsonb('changes').notNull().default(sql`'{}'::jsonb`),
  },
  (t) => [
    index('audit_log_time_idx').on(t.time),
    index('audit_log_entity_idx').on(t.entity_type, t.entity_id, t.time),
    index('audit_log_actor_idx').on(t.actor, t.time),
  ],
);
