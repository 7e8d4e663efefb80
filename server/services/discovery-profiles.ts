import type { Db } from '../db/client.ts';
import { agents, credentialProfiles, discoveryProfiles, plugins } from '../db/schema.ts';
import { notFound } from '../errors.ts';
import { auditChanges } from '../audit/audit-log.ts';
import {
  iso,
  mapDbError,
  type Page,
  requireRow,
  removeAudited,
  updateAudited,
  createAudited,
  rowById,
  listPage,
  definedFields,
} from './common.ts';

type Row = typeof discoveryProfiles.$inferSelect;
export interface DiscoveryProfileInput {
  name: string;
  agent_id: number;
  credential_profile_id: number;
  target: string;
  port_scan?: boolean | undefined;
  auto_provision?: boolean | undefined;
  plugin_id?: number | null | undefined;
  polling_interval?: number | undefined;
  authenticate_unverified?: boolean | undefined;
}

const toApi = (r: Row) => ({
  id: r.id,
  name: r.name,
  agent_id: r.agent_id,
  credential_profile_id: r.credential_profile_id,
  target: r.target,
  port_scan: r.port_scan,
  auto_provision: r.auto_provision,
  plugin_id: r.plugin_id,
  polling_interval: r.polling_interval,
  authenticate_unverified: r.authenticate_unverified,
  created_at: iso(r.created_at)!,
  updated_at: iso(r.updated_at)!,
});

export function createDiscoveryProfileService(db: Db) {
  const get = (id: number): Promise<Row> => rowById(db, discoveryProfiles, id, 'Discovery Profile');
  const checkRefs = async (p: Partial<DiscoveryProfileInput>) => {
    if (p.agent_id !== undefined) await requireRow(db, agents, p.agent_id, 'Agent', 'agent_id');
    if (p.credential_profile_id !== undefined)
      await requireRow(db, credentialProfiles, p.credential_profile_id, 'Credential Profile', 'credential_profile_id');
    if (p.plugin_id != null) await requireRow(db, plugins, p.plugin_id, 'Plugin', 'plugin_id');
  };
  return {
    list: async (page: Page) => (await listPage(db, discoveryProfiles, page)).map(toApi),
    get: async (id: number) => toApi(await get(id)),
    getRow: get,
    async create(p: DiscoveryProfileInput) {
      await checkRefs(p);
      try {
        const r = await createAudited(
          db,
          discoveryProfiles,
          {
            name: p.name,
            agent_id: p.agent_id,
            credential_profile_id: p.credential_profile_id,
            target: p.target,
            port_scan: p.port_scan ?? false,
            auto_provision: p.auto_provision ?? false,
            plugin_id: p.plugin_id ?? null,
            polling_interval: p.polling_interval ?? 60,
            authenticate_unverified: p.authenticate_unverified ?? false,
          },
          'discovery_profile',
          (r) => auditChanges('discovery_profile', null, r),
        );
        return toApi(r);
      } catch (err) {
        mapDbError(err, 'a Discovery Profile with this name');
      }
    },
    async update(id: number, p: Partial<DiscoveryProfileInput>) {
      const cur = await get(id);
      await checkRefs(p);
      const set = {
        ...definedFields(p, [
          'name',
          'agent_id',
          'credential_profile_id',
          'target',
          'port_scan',
          'auto_provision',
          'plugin_id',
          'polling_interval',
          'authenticate_unverified',
        ]),
        updated_at: new Date(),
      };
      try {
        const r = await updateAudited(db, discoveryProfiles, id, set, 'discovery_profile', (r) =>
          auditChanges('discovery_profile', cur, r),
        );
        if (!r) throw notFound('Discovery Profile', id);
        return toApi(r);
      } catch (err) {
        mapDbError(err, 'a Discovery Profile with this name');
      }
    },
    /** Always allowed; the devices it found stay (their discovery_profile_id becomes null). */
    async remove(id: number) {
      const cur = await get(id);
      await removeAudited(db, discoveryProfiles, id, 'discovery_profile', cur);
    },
  };
}
export type DiscoveryProfileService = ReturnType<typeof createDiscoveryProfileService>;
