import type { Db } from '../db/client.ts';
import { discoveryProfiles, monitors, plugins } from '../db/schema.ts';
import { ExternalPluginConfig } from '../../shared/external-plugin.ts';
import { AppError, notFound } from '../errors.ts';
import type { EventBus } from '../events.ts';
import { auditChanges } from '../audit/audit-log.ts';
import {
  iso,
  mapDbError,
  type Page,
  removeAudited,
  updateAudited,
  createAudited,
  rowById,
  listPage,
  definedFields,
  refuseInUse,
} from './common.ts';

type Row = typeof plugins.$inferSelect;
export interface PluginInput {
  name: string;
  type: 'windows-wmi' | 'windows-powershell' | 'external';
  description?: string | undefined;
  config?: Record<string, unknown> | undefined;
}

const toApi = (r: Row) => ({
  id: r.id,
  name: r.name,
  type: r.type,
  description: r.description,
  config: (r.config ?? {}) as Record<string, unknown>,
  builtin: r.builtin,
  created_at: iso(r.created_at)!,
  updated_at: iso(r.updated_at)!,
});

/**
 * An external plugin names a plugin the site installed in the agent's plugins folder (the agent
 * runs nothing else); the built-in types take no settings.
 */
function checkConfig(type: string, config: Record<string, unknown> | undefined): void {
  if (type !== 'external') {
    const extra = Object.keys(config ?? {})[0];
    if (extra !== undefined)
      throw new AppError('VALIDATION_ERROR', `config.${extra}: a ${type} plugin takes no settings`, {
        field: `config.${extra}`,
      });
    return;
  }
  if (typeof config?.command !== 'string' || !config.command) {
    throw new AppError(
      'VALIDATION_ERROR',
      "config.command: required for an external plugin (the name of a plugin installed in the agent's plugins folder)",
      { field: 'config.command' },
    );
  }
  const r = ExternalPluginConfig.safeParse(config);
  if (!r.success) {
    const i = r.error.issues[0]!;
    const path = i.code === 'unrecognized_keys' ? [...i.path, i.keys[0]!] : i.path;
    const field = ['config', ...path.map(String)].join('.');
    throw new AppError(
      'VALIDATION_ERROR',
      `${field}: ${i.code === 'unrecognized_keys' ? 'not a setting of an external plugin' : i.message}`,
      { field },
    );
  }
}

function refuseBuiltin(r: Row, verb: string): void {
  if (r.builtin)
    throw new AppError(
      'VALIDATION_ERROR',
      `Plugin ${r.id} (${r.name}) is built in and read-only: it cannot be ${verb}`,
      { builtin: true },
    );
}

export function createPluginService(db: Db, events: EventBus) {
  const get = (id: number): Promise<Row> => rowById(db, plugins, id, 'Plugin');
  return {
    list: async (page: Page) => (await listPage(db, plugins, page)).map(toApi),
    get: async (id: number) => toApi(await get(id)),
    getRow: get,
    async create(p: PluginInput) {
      checkConfig(p.type, p.config);
      try {
        const r = await createAudited(
          db,
          plugins,
          { name: p.name, type: p.type, description: p.description ?? '', config: p.config ?? {} },
          'plugin',
          (r) => auditChanges('plugin', null, r),
        );
        return toApi(r);
      } catch (err) {
        mapDbError(err, 'a Plugin with this name');
      }
    },
    async update(id: number, p: Partial<PluginInput>) {
      const cur = await get(id);
      refuseBuiltin(cur, 'changed');
      // A description or name change leaves a stored config alone (one saved before the plugin-name rule still shows, and fails on the agent as not_allowed).
      if (p.type !== undefined || p.config !== undefined)
        checkConfig(p.type ?? cur.type, p.config ?? (cur.config as Record<string, unknown>));
      try {
        const set = { ...definedFields(p, ['name', 'type', 'description', 'config']), updated_at: new Date() };
        const r = await updateAudited(db, plugins, id, set, 'plugin', (r) => auditChanges('plugin', cur, r));
        if (!r) throw notFound('Plugin', id);
        if (p.type !== undefined || p.config !== undefined) events.emit('plugin.changed', { id });
        return toApi(r!);
      } catch (err) {
        mapDbError(err, 'a Plugin with this name');
      }
    },
    async remove(id: number) {
      const cur = await get(id);
      refuseBuiltin(cur, 'deleted');
      await refuseInUse(db, 'Plugin', monitors.plugin_id, id);
      // A discovery profile that provisions monitors with it holds it too (the foreign key would refuse).
      await refuseInUse(db, 'Plugin', discoveryProfiles.plugin_id, id);
      await removeAudited(db, plugins, id, 'plugin', cur);
    },
  };
}
