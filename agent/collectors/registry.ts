import { join } from 'node:path';
import type { Collector } from './collector.ts';
import { createExternalCollector } from './external.ts';
import { createWindowsPowerShellCollector } from './windows-powershell.ts';
import { createWindowsWmiCollector } from './windows-wmi.ts';
import type { WinrmClientCacheOptions } from './winrm-client-cache.ts';

/** The plugin types a monitor may name; the server's `plugins.type` uses the same strings. */
const BUILTIN_COLLECTORS = ['windows-wmi', 'windows-powershell', 'external'] as const;
export type BuiltinCollector = (typeof BUILTIN_COLLECTORS)[number];

export interface CollectorRegistry {
  /** undefined for a plugin type this agent does not know (the runner reports plugin_error). */
  find(type: string): Collector | undefined;
  readonly names: readonly string[];
  /** Closes cached WinRM connections; call once when the agent stops. */
  close(): void;
}

/** Where the site's administrator installs external plugins: `<home>/plugins/<name>`. */
export const pluginsDirOf = (home: string): string => join(home, 'plugins');

/**
 * The explicit list of collectors: add a new one here, nowhere else. `pluginsDir` is the only
 * folder external plugins run from; without it every external plugin is refused (not_allowed).
 */
export function createRegistry(
  o: { winrm?: WinrmClientCacheOptions; extra?: Collector[]; pluginsDir?: string } = {},
): CollectorRegistry {
  const list: Collector[] = [
    createWindowsWmiCollector(o.winrm) as Collector,
    createWindowsPowerShellCollector(o.winrm) as Collector,
    createExternalCollector({ pluginsDir: o.pluginsDir }) as Collector,
    ...(o.extra ?? []),
  ];
  const byName = new Map(list.map((c) => [c.name, c]));
  return {
    find: (type) => byName.get(type),
    names: [...byName.keys()],
    close() {
      for (const c of list) c.close?.();
    },
  };
}
