import { z } from 'zod';
import { collectWindowsMetrics } from '../winrm/index.ts';
import { configValidator, type Collector } from './collector.ts';
import { createWinrmClientCache, type WinrmClientCacheOptions } from './winrm-client-cache.ts';
import { collectOverWinrm } from './winrm-collect.ts';

/** No settings today; unknown keys are accepted so older servers' configs keep working. */
export const WindowsWmiConfig = z.object({}).passthrough();
export type WindowsWmiConfig = z.infer<typeof WindowsWmiConfig>;

/** `windows-wmi`: CPU, memory, disk, network and processes from WMI classes over WS-Man Enumerate. */
export function createWindowsWmiCollector(o: WinrmClientCacheOptions = {}): Collector<WindowsWmiConfig> {
  const cache = createWinrmClientCache(o);
  return {
    name: 'windows-wmi',
    validateConfig: configValidator(WindowsWmiConfig, 'windows-wmi'),
    collect: (req, signal) => collectOverWinrm(cache, req, signal, (client) => collectWindowsMetrics(client)),
    close: () => cache.close(),
  };
}
