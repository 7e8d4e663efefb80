import { randomBytes } from 'node:crypto';
import { asc, count, eq } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { agents, devices, discoveryProfiles } from '../db/schema.ts';
import { AppError, notFound } from '../errors.ts';
import type { EventBus } from '../events.ts';
import { EnrollRefused, enrollAgent, hashEnrollmentToken } from '../hub/enroll.ts';
import type pg from 'pg';
import { AgentHealth } from '../../shared/protocol/index.ts';
import type { ScheduleState } from '../assignments/assignments.ts';
import { auditChanges, recordAudit } from '../audit/audit-log.ts';
import { iso, mapDbError, type Page } from './common.ts';

type Row = typeof agents.$inferSelect;

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
  pool: pg.Pool,
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
  const get = async (id: number): Promise<Row> => {
    const [r] = await db.select().from(agents).where(eq(agents.id, id));
    if (!r) throw notFound('Agent', id);
    return r;
  };
  const newToken = () => {
    const token = `nmse_${randomBytes(24).toString('base64url')}`;
    return { token, hash: hashEnrollmentToken(token), expires: new Date(Date.now() + o.enrollmentTtlHours * 3600_000) };
  };
  return {
    list: async (page: Page) =>
      (await db.select().from(agents).orderBy(asc(agents.id)).limit(page.limit).offset(page.offset)).map(toApi),
    get: async (id: number) => toApi(await get(id)),
    /** The token is shown once here and stored only as a hash. */
    async create(p: { name: string }) {
      const t = newToken();
      try {
        const r = await db.transaction(async (tx) => {
          const [r] = await tx
            .insert(agents)
            .values({ name: p.name, enrollment_token_hash: t.hash, enrollment_expires_at: t.expires })
            .returning();
          await recordAudit(tx, {
            entity_type: 'agent',
            entity_id: r!.id,
            action: 'create',
            changes: auditChanges('agent', null, r!, ['enrollment_token']),
          });
          return r;
        });
        return { agent: toApi(r!), enrollment_token: t.token };
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
        const r = await db.transaction(async (tx) => {
          const [r] = await tx
            .update(agents)
            .set({ ...(p.name !== undefined ? { name: p.name } : {}), status, updated_at: new Date() })
            .where(eq(agents.id, id))
            .returning();
          if (r)
            await recordAudit(tx, {
              entity_type: 'agent',
              entity_id: id,
              action: 'update',
              changes: auditChanges('agent', cur, r),
            });
          return r;
        });
        if (!r) throw notFound('Agent', id);
        if (status === 'disabled' && cur.status !== 'disabled') events.emit('agent.disabled', { id });
        return toApi(r!);
      } catch (err) {
        mapDbError(err, 'an Agent with this name');
      }
    },
    /** Public: the agent presents its one-time token and public keys. */
    async enroll(input: unknown) {
      try {
        const enrolled = await enrollAgent(pool, input);
        // A session still open with the previous keys (re-enrolment after a reissued token) ends now.
        events.emit('agent.reenrolled', { id: enrolled.agent_id });
        return enrolled;
      } catch (err) {
        if (err instanceof EnrollRefused)
          throw new AppError(
            err.code === 'FORBIDDEN' ? 'FORBIDDEN' : err.code === 'UNAUTHORIZED' ? 'UNAUTHORIZED' : 'VALIDATION_ERROR',
            err.message,
          );
        throw err;
      }
    },
    async remove(id: number) {
      const cur = await get(id);
      const [d] = await db.select({ n: count() }).from(devices).where(eq(devices.agent_id, id));
      if (d!.n > 0) throw new AppError('IN_USE', `Agent in use by ${d!.n} device(s)`, { devices: d!.n });
      const [p] = await db.select({ n: count() }).from(discoveryProfiles).where(eq(discoveryProfiles.agent_id, id));
      if (p!.n > 0)
        throw new AppError('IN_USE', `Agent in use by ${p!.n} discovery profile(s)`, { discovery_profiles: p!.n });
      await db.transaction(async (tx) => {
        const gone = await tx.delete(agents).where(eq(agents.id, id)).returning({ id: agents.id });
        if (gone.length)
          await recordAudit(tx, {
            entity_type: 'agent',
            entity_id: id,
            action: 'delete',
            changes: auditChanges('agent', cur, null),
          });
      });
      events.emit('agent.deleted', { id });
    },
  };
}
