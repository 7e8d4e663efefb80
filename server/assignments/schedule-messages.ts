import {
  MAX_MESSAGE_BYTES,
  SCHEDULE_MAX_CREDENTIALS,
  SCHEDULE_PART_ASSIGNMENTS,
  type Assignment,
  type SealedCredential,
  type ServerMessage,
} from '../../shared/protocol/index.ts';
import { inSubset, type AssignedMonitor, type Subset } from './assignment-store.ts';

/** Serialized assignments and credentials per message: well under MAX_MESSAGE_BYTES with the envelope. */
export const SCHEDULE_MESSAGE_BYTES = MAX_MESSAGE_BYTES - 256 * 1024;

export interface PartLimits {
  assignments: number;
  credentials: number;
  bytes: number;
}

export const DEFAULT_PART_LIMITS: Readonly<PartLimits> = Object.freeze({
  assignments: SCHEDULE_PART_ASSIGNMENTS,
  credentials: SCHEDULE_MAX_CREDENTIALS,
  bytes: SCHEDULE_MESSAGE_BYTES,
});

export const credentialKey = (c: { profile_id: number; version: number }): string => `${c.profile_id}:${c.version}`;

/** What changed from `before` to `after` (both keyed by monitor id). */
export function diffAssignments(
  before: ReadonlyMap<number, AssignedMonitor>,
  after: ReadonlyMap<number, AssignedMonitor>,
): { upsert: AssignedMonitor[]; remove: number[] } {
  const upsert: AssignedMonitor[] = [];
  const remove: number[] = [];
  for (const [id, a] of after) if (before.get(id)?.json !== a.json) upsert.push(a);
  for (const id of before.keys()) if (!after.has(id)) remove.push(id);
  return { upsert, remove };
}

/**
 * What changed in the part of a set that was re-read: `rows` are the part's scheduled
 * assignments now; a monitor of `before` in the part that is not among `rows` left the set.
 * Monitors outside the part are left alone.
 */
export function diffPart(
  before: ReadonlyMap<number, AssignedMonitor>,
  rows: readonly AssignedMonitor[],
  part: Subset,
): { upsert: AssignedMonitor[]; remove: number[] } {
  const after = new Map(rows.map((r) => [r.assignment.monitor_id, r]));
  const upsert: AssignedMonitor[] = [];
  const remove: number[] = [];
  for (const [id, a] of after) if (before.get(id)?.json !== a.json) upsert.push(a);
  if (part.devices.size + part.credentials.size + part.plugins.size === 0) {
    for (const id of part.monitors) if (before.has(id) && !after.has(id)) remove.push(id);
  } else {
    for (const [id, a] of before) if (!after.has(id) && inSubset(part, a)) remove.push(id);
  }
  return { upsert, remove };
}

interface Part {
  assignments: Assignment[];
  credentials: SealedCredential[];
}

/**
 * Cuts assignments into parts that each respect the limits, every part carrying the sealed
 * credentials its own assignments refer to (once each). A part always holds at least one assignment.
 */
export function splitParts(
  items: readonly AssignedMonitor[],
  sealed: ReadonlyMap<string, SealedCredential>,
  limits: PartLimits,
): Part[] {
  const parts: Part[] = [];
  let cur: Part = { assignments: [], credentials: [] };
  let creds = new Set<string>();
  let bytes = 0;
  for (const item of items) {
    const ref = item.assignment.credential;
    const key = ref ? credentialKey(ref) : undefined;
    const cost = () => {
      const cred = key !== undefined && !creds.has(key) ? sealed.get(key) : undefined;
      return { cred, size: Buffer.byteLength(item.json) + 1 + (cred ? cred.sealed.length + 64 : 0) };
    };
    let { cred, size } = cost();
    const full =
      cur.assignments.length >= limits.assignments ||
      (cred !== undefined && creds.size >= limits.credentials) ||
      bytes + size > limits.bytes;
    if (full && cur.assignments.length > 0) {
      parts.push(cur);
      cur = { assignments: [], credentials: [] };
      creds = new Set();
      bytes = 0;
      ({ cred, size } = cost());
    }
    cur.assignments.push(item.assignment);
    bytes += size;
    if (cred && key !== undefined) {
      creds.add(key);
      cur.credentials.push(cred);
    }
  }
  if (cur.assignments.length > 0 || parts.length === 0) parts.push(cur);
  return parts;
}

/** schedule.full in parts: the same revision on every part, `more` on all but the last. */
export function fullSetMessages(
  revision: number,
  items: readonly AssignedMonitor[],
  sealed: ReadonlyMap<string, SealedCredential>,
  limits: PartLimits,
): ServerMessage[] {
  const parts = splitParts(items, sealed, limits);
  return parts.map((p, i) => ({
    type: 'schedule.full',
    revision,
    assignments: p.assignments,
    credentials: p.credentials,
    more: i < parts.length - 1,
  }));
}

/** schedule.delta, or undefined when the change does not fit one message (the caller sends the full set instead). */
export function deltaMessage(
  base: number,
  change: { upsert: readonly AssignedMonitor[]; remove: readonly number[] },
  sealed: ReadonlyMap<string, SealedCredential>,
  limits: PartLimits,
): ServerMessage | undefined {
  if (change.upsert.length > limits.assignments || change.remove.length > 100_000) return undefined;
  const credentials: SealedCredential[] = [];
  const seen = new Set<string>();
  let bytes = change.remove.length * 11;
  for (const a of change.upsert) {
    bytes += Buffer.byteLength(a.json) + 1;
    const ref = a.assignment.credential;
    if (!ref || seen.has(credentialKey(ref))) continue;
    seen.add(credentialKey(ref));
    const cred = sealed.get(credentialKey(ref));
    if (!cred) continue;
    credentials.push(cred);
    bytes += cred.sealed.length + 64;
  }
  if (credentials.length > limits.credentials || bytes > limits.bytes) return undefined;
  return {
    type: 'schedule.delta',
    base,
    revision: base + 1,
    upsert: change.upsert.map((a) => a.assignment),
    remove: [...change.remove],
    credentials,
  };
}
