import { AsyncLocalStorage } from 'node:async_hooks';

/** Who makes a change and from where: an admin's username, `agent: <name>`, or `system: …`. */
export interface AuditActor {
  actor: string;
  /** The request's remote address; null for the server's own work. */
  address: string | null;
}

export const SYSTEM_HEALTH_MONITOR: AuditActor = { actor: 'system: health monitor', address: null };
export const SYSTEM_DISCOVERY: AuditActor = { actor: 'system: discovery', address: null };
const SYSTEM: AuditActor = { actor: 'system', address: null };

/**
 * The API runs each procedure inside runAs (server/api/trpc.ts), so a service verb records who
 * called it without every signature carrying the caller. Work the server starts on its own (the
 * health monitor, discovery results) names its actor explicitly instead: a timer or event started
 * during a request would otherwise inherit that request's admin.
 */
const current = new AsyncLocalStorage<AuditActor>();

export const runAs = <T>(actor: AuditActor, fn: () => T): T => current.run(actor, fn);

export const currentActor = (): AuditActor => current.getStore() ?? SYSTEM;

/** IPv4-mapped IPv6 (`::ffff:10.0.0.5`, how a dual-stack socket reports IPv4) as the plain address. */
export const normalizeAddress = (a: string | undefined | null): string | null =>
  a ? a.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1') : null;
