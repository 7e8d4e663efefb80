import { auditLog } from '../db/schema.ts';
import { currentActor, type AuditActor } from './actor.ts';

/**
 * What the audit log records of each entity. Only these fields ever reach `changes`: a field not
 * listed (password_enc, enrollment_token_hash, keys, health …) is never written, whatever a caller
 * passes. `secret` fields are named when they change, with SECRET_CHANGED instead of a value.
 */
export const AUDITED_FIELDS = {
  agent: { fields: ['name', 'status', 'hostname', 'version'], secret: ['enrollment_token', 'keys'] },
  credential_profile: {
    fields: ['name', 'type', 'username', 'domain', 'port', 'use_ssl', 'tls_verify', 'tls_fingerprint', 'version'],
    secret: ['password'],
  },
  device: {
    fields: ['agent_id', 'ip', 'port', 'use_ssl', 'hostname', 'os', 'os_version', 'status', 'discovery_profile_id'],
    secret: [],
  },
  // run_id: the run an admin started (action 'run').
  discovery_profile: {
    fields: [
      'name',
      'agent_id',
      'credential_profile_id',
      'target',
      'port_scan',
      'auto_provision',
      'plugin_id',
      'polling_interval',
      'authenticate_unverified',
      'run_id',
    ],
    secret: [],
  },
  monitor: { fields: ['device_id', 'credential_profile_id', 'plugin_id', 'polling_interval', 'enabled'], secret: [] },
  // An external plugin's args may carry anything the site passes its script: only their count is kept.
  plugin: {
    fields: [
      'name',
      'type',
      'description',
      'config.command',
      'config.timeout_ms',
      'config.max_output_bytes',
      'config.args_count',
    ],
    secret: [],
  },
} as const satisfies Record<string, { fields: readonly string[]; secret: readonly string[] }>;
export type AuditEntityType = keyof typeof AUDITED_FIELDS;
export const AUDIT_ENTITY_TYPES = Object.keys(AUDITED_FIELDS) as AuditEntityType[];

export const AUDIT_ACTIONS = ['create', 'update', 'delete', 'enroll', 'reissue_token', 'run'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export const SECRET_CHANGED = '(changed)';
/** Longest string value kept (a description, a target list); longer ones are cut, marked with …. */
const MAX_VALUE_CHARS = 1000;

type Values = Record<string, unknown>;
export type AuditChanges = Record<string, { from?: unknown; to: unknown }>;

/** Flattens a plugin's config into the `config.*` fields above (args reduced to their count). */
function flatten(v: Values): Values {
  const out: Values = { ...v };
  const config = v.config;
  if (config && typeof config === 'object' && !Array.isArray(config)) {
    const c = config as Values;
    out['config.command'] = c.command;
    out['config.timeout_ms'] = c.timeout_ms;
    out['config.max_output_bytes'] = c.max_output_bytes;
    out['config.args_count'] = Array.isArray(c.args) ? c.args.length : undefined;
  }
  return out;
}

const clip = (v: unknown): unknown =>
  typeof v === 'string' && v.length > MAX_VALUE_CHARS
    ? `${v.slice(0, MAX_VALUE_CHARS)}…`
    : v instanceof Date
      ? v.toISOString()
      : v;
const same = (a: unknown, b: unknown): boolean => JSON.stringify(clip(a) ?? null) === JSON.stringify(clip(b) ?? null);

/**
 * The allow-listed difference between two states of an entity (`before` null: created, `after`
 * null: deleted, where the deleted row's fields are kept as `from`). `secretsChanged` names secret
 * fields that changed; their values are never looked at.
 */
export function auditChanges(
  type: AuditEntityType,
  before: Values | null,
  after: Values | null,
  secretsChanged: readonly string[] = [],
): AuditChanges {
  const spec = AUDITED_FIELDS[type];
  const b = before ? flatten(before) : undefined;
  const a = after ? flatten(after) : undefined;
  const out: AuditChanges = {};
  for (const f of spec.fields) {
    const from = b?.[f];
    const to = a?.[f];
    if (from === undefined && to === undefined) continue;
    if (b && a && same(from, to)) continue;
    out[f] = b ? { from: clip(from) ?? null, to: a ? (clip(to) ?? null) : null } : { to: clip(to) ?? null };
  }
  for (const f of secretsChanged) if ((spec.secret as readonly string[]).includes(f)) out[f] = { to: SECRET_CHANGED };
  return out;
}

export interface AuditEntry {
  entity_type: AuditEntityType;
  entity_id: number | null;
  action: AuditAction;
  changes: AuditChanges;
  /** Defaults to the API caller (currentActor()). */
  by?: AuditActor;
}

const row = (e: AuditEntry) => {
  const by = e.by ?? currentActor();
  return {
    actor: by.actor,
    source_address: by.address,
    entity_type: e.entity_type,
    entity_id: e.entity_id,
    action: e.action,
    changes: e.changes,
  };
};

/** Anything drizzle can insert with: the database or, as every caller here passes, a transaction. */
interface Inserter {
  insert(table: typeof auditLog): { values(v: ReturnType<typeof row>[]): PromiseLike<unknown> };
}

/** Records entries with the transaction that makes the change (drizzle). */
export async function recordAudit(tx: Inserter, ...entries: AuditEntry[]): Promise<void> {
  if (entries.length) await tx.insert(auditLog).values(entries.map(row));
}
