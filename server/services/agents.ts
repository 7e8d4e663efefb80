import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { agents, devices, discoveryProfiles } from '../db/schema.ts';
import { AppError, notFound } from '../errors.ts';
import type { EventBus } from '../events.ts';
import { AgentHealth } from '../../shared/protocol/index.ts';
import type { ScheduleState } from '../assignments/assignments.ts';
import { currentActor } from '../audit/actor.ts';
import { auditChanges, recordAudit } from '../audit/audit-log.ts';
import {
  iso,
  mapDbError,
  type Page,
  removeAudited,
  updateAudited,
  createAudited,
  rowById,
  listPage,
  refuseInUse,
} from './common.ts';

type Row = typeof agents.$inferSelect;

/** What `nmslite-agent enroll` presents (validated by the API: server/api/routers/agents.ts). */
export interface EnrollInput {
  token: string;
  sign_public_key: string;
  seal_public_key: string;
  hostname?: string | undefined;
  version?: string | undefined;
}

const hashEnrollmentToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');
const TOKEN_NOT_VALID = 'the enrollment token is not valid (unknown, already used, or revoked)';

/** The key in canonical SPKI PEM form, or a 400 naming the field. */
function checkKey(pem: string, type: 'ed25519' | 'x25519', field: string): string {
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== type) throw new Error('wrong type');
    return key.export({ type: 'spki', format: 'pem' }).toString();
  } catch {
    const reason = `must be an ${type} public key in SPKI PEM form`;
    throw new AppError('VALIDATION_ERROR', `${field} ${reason}`, { field, reason });
  }
}

/**
 * What the agent's last health report says about running cut off: how long, how many polls, and
 * which results a full spool evicted (exact ranges per monitor). Only validated fields pass.
 */
function offlineFacts(raw: unknown) {
  const h = AgentHealth.safeParse(raw);
  if (!h.success) return { offline: null, spool_evicted: null, agent_revision: null };
  const v = h.data;
  return {
    agent_revision: v.schedule_revision ?? null,
    offline: {
      offline_since: typeof v.offline_since === 'number' ? new Date(v.offline_since).toISOString() : null,
      polls_offline: v.polls_offline ?? null,
      polling_paused: v.polling_paused ?? false,
      spool_backlog: v.spool_backlog,
      spool_oldest_age_ms: v.spool_oldest_age_ms ?? null,
    },
    spool_evicted: v.spool_evicted
      ? {
          records: v.spool_evicted.records,
          ranges: v.spool_evicted.ranges,
          ranges_omitted: v.spool_evicted.ranges_omitted ?? 0,
        }
      : null,
  };
}

export function createAgentService(
  db: Db,
  events: EventBus,
  o: { enrollmentTtlHours: number; isOnline: (id: number) => boolean; scheduleOf: (id: number) => ScheduleState },
) {
  const toApi = (r: Row) => {
    const facts = offlineFacts(r.health);
    return {
      id: r.id,
      name: r.name,
      status: r.status,
      online: o.isOnline(r.id),
      version: r.version,
      hostname: r.hostname,
      last_seen: iso(r.last_seen),
      enrolled_at: iso(r.enrolled_at),
      enrollment_expires_at: iso(r.enrollment_expires_at),
      health: (r.health ?? null) as Record<string, unknown> | null,
      schedule: { ...o.scheduleOf(r.id), agent_revision: facts.agent_revision },
      offline: facts.offline,
      spool_evicted: facts.spool_evicted,
      created_at: iso(r.created_at)!,
      updated_at: iso(r.updated_at)!,
    };
  };
  const get = (id: number): Promise<Row> => rowById(db, agents, id, 'Agent');
  const newToken = () => {
    const token = `nmse_${randomBytes(24).toString('base64url')}`;
    return { token, hash: hashEnrollmentToken(token), expires: new Date(Date.now() + o.enrollmentTtlHours * 3600_000) };
  };
  return {
    list: async (page: Page) => (await listPage(db, agents, page)).map(toApi),
    get: async (id: number) => toApi(await get(id)),
    /** The token is shown once here and stored only as a hash. */
    async create(p: { name: string }) {
      const t = newToken();
      try {
        const r = await createAudited(
          db,
          agents,
          { name: p.name, enrollment_token_hash: t.hash, enrollment_expires_at: t.expires },
          'agent',
          (r) => auditChanges('agent', null, r, ['enrollment_token']),
        );
        return { agent: toApi(r), enrollment_token: t.token };
      } catch (err) {
        mapDbError(err, 'an Agent with this name');
      }
    },
    /** A fresh one-time token (the agent must enroll again, e.g. after losing its identity). */
    async reissueToken(id: number) {
      await get(id);
      const t = newToken();
      const r = await db.transaction(async (tx) => {
        const [r] = await tx
          .update(agents)
          .set({ enrollment_token_hash: t.hash, enrollment_expires_at: t.expires, updated_at: new Date() })
          .where(eq(agents.id, id))
          .returning();
        if (r)
          await recordAudit(tx, {
            entity_type: 'agent',
            entity_id: id,
            action: 'reissue_token',
            changes: auditChanges('agent', null, {}, ['enrollment_token']),
          });
        return r;
      });
      if (!r) throw notFound('Agent', id);
      return { agent: toApi(r!), enrollment_token: t.token };
    },
    async update(id: number, p: { name?: string | undefined; disabled?: boolean | undefined }) {
      const cur = await get(id);
      let status = cur.status;
      if (p.disabled === true) status = 'disabled';
      if (p.disabled === false && cur.status === 'disabled') status = cur.sign_public_key ? 'active' : 'pending';
      try {
        const r = await updateAudited(
          db,
          agents,
          id,
          { ...(p.name !== undefined ? { name: p.name } : {}), status, updated_at: new Date() },
          'agent',
          (r) => auditChanges('agent', cur, r),
        );
        if (!r) throw notFound('Agent', id);
        if (status === 'disabled' && cur.status !== 'disabled') events.emit('agent.disabled', { id });
        return toApi(r!);
      } catch (err) {
        mapDbError(err, 'an Agent with this name');
      }
    },
    /**
     * Public: the agent redeems its one-time token with its public keys. The token hash is cleared in
     * the same UPDATE that stores the keys, so a token works once even under concurrent attempts.
     */
    async enroll(p: EnrollInput): Promise<{ agent_id: number; name: string }> {
      const signKey = checkKey(p.sign_public_key, 'ed25519', 'sign_public_key');
      const sealKey = checkKey(p.seal_public_key, 'x25519', 'seal_public_key');
      const hash = hashEnrollmentToken(p.token);
      const [row] = await db
        .select({
          id: agents.id,
          name: agents.name,
          status: agents.status,
          expired: sql<boolean>`${agents.enrollment_expires_at} < now()`,
        })
        .from(agents)
        .where(eq(agents.enrollment_token_hash, hash));
      if (!row) throw new AppError('UNAUTHORIZED', TOKEN_NOT_VALID);
      if (row.expired)
        throw new AppError('UNAUTHORIZED', 'the enrollment token has expired; create a new one for this agent');
      if (row.status === 'disabled') throw new AppError('FORBIDDEN', 'this agent is disabled');
      const enrolled = await db.transaction(async (tx) => {
        const now = new Date();
        const [r] = await tx
          .update(agents)
          .set({
            sign_public_key: signKey,
            seal_public_key: sealKey,
            hostname: p.hostname ?? null,
            version: p.version ?? null,
            enrollment_token_hash: null,
            enrollment_expires_at: null,
            status: 'active',
            enrolled_at: now,
            updated_at: now,
          })
          .where(and(eq(agents.id, row.id), eq(agents.enrollment_token_hash, hash)))
          .returning({ id: agents.id });
        if (!r) return false;
        // The keys are named, not stored, in the audit log.
        await recordAudit(tx, {
          entity_type: 'agent',
          entity_id: row.id,
          action: 'enroll',
          changes: auditChanges(
            'agent',
            { status: row.status },
            { status: 'active', hostname: p.hostname ?? null, version: p.version ?? null },
            ['keys'],
          ),
          by: { actor: `agent: ${row.name}`, address: currentActor().address },
        });
        return true;
      });
      if (!enrolled) throw new AppError('UNAUTHORIZED', TOKEN_NOT_VALID);
      // A session still open with the previous keys (re-enrolment after a reissued token) ends now.
      events.emit('agent.reenrolled', { id: row.id });
      return { agent_id: row.id, name: row.name };
    },
    /**
     * Presence, for the hub (server/hub/hub.ts): a session was welcomed, ended, or reported its
     * health (throttled by the hub). False when the agent no longer exists.
     */
    async recordOnline(id: number, p: { version: string; hostname: string }): Promise<boolean> {
      const r = await db
        .update(agents)
        .set({ last_seen: sql`now()`, version: p.version, hostname: p.hostname })
        .where(eq(agents.id, id))
        .returning({ id: agents.id });
      return r.length > 0;
    },
    async recordSeen(id: number): Promise<boolean> {
      const r = await db
        .update(agents)
        .set({ last_seen: sql`now()` })
        .where(eq(agents.id, id))
        .returning({ id: agents.id });
      return r.length > 0;
    },
    async recordHealth(id: number, health: AgentHealth): Promise<boolean> {
      const r = await db
        .update(agents)
        .set({ last_seen: sql`now()`, health })
        .where(eq(agents.id, id))
        .returning({ id: agents.id });
      return r.length > 0;
    },
    async remove(id: number) {
      const cur = await get(id);
      await refuseInUse(db, 'Agent', devices.agent_id, id);
      await refuseInUse(db, 'Agent', discoveryProfiles.agent_id, id);
      await removeAudited(db, agents, id, 'agent', cur);
      events.emit('agent.deleted', { id });
    },
  };
}
export type AgentService = ReturnType<typeof createAgentService>;
