import { z } from 'zod';
import { collectWindowsMetricsPowerShell } from '../winrm/index.ts';
import { configValidator, type Collector } from './collector.ts';
import { createWinrmClientCache, type WinrmClientCacheOptions } from './winrm-client-cache.ts';
import { collectOverWinrm } from './winrm-collect.ts';

export const WindowsPowerShellConfig = z
  .object({
    /** How long the script may run on the host; the job deadline still bounds it. */
    timeout_ms: z.number().int().min(1000).max(600_000).optional(),
  })
  .passthrough();
export type WindowsPowerShellConfig = z.infer<typeof WindowsPowerShellConfig>;

/** Time kept back from the job deadline for Signal + Delete of the shell. */
const SHELL_CLEANUP_MS = 1500;

/** `windows-powershell`: the same sample from one PowerShell script run in a WinRS shell. */
export function createWindowsPowerShellCollector(o: WinrmClientCacheOptions = {}): Collector<WindowsPowerShellConfig> {
  const cache = createWinrmClientCache(o);
  return {
    name: 'windows-powershell',
    validateConfig: configValidator(WindowsPowerShellConfig, 'windows-powershell'),
    collect: (req, signal) =>
      collectOverWinrm(cache, req, signal, (client) => {
        // Stop the script a little before the job deadline, so the shell is still signalled and
        // deleted before the runner gives up on the job (an abandoned shell holds one of the
        // host's few per-user shells until its idle timeout).
        const left = Math.max(1000, req.deadline - Date.now() - SHELL_CLEANUP_MS);
        return collectWindowsMetricsPowerShell(client, { timeoutMs: Math.min(req.config.timeout_ms ?? left, left) });
      }),
    close: () => cache.close(),
  };
}
