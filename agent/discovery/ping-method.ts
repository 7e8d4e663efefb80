import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Which tool answers ICMP echo on this machine (kept apart from the sweep so the agent can ask cheaply). */
export type PingMethod = 'fping' | 'ping' | 'none';

let toolCache: Map<string, string | undefined> | undefined;

/** Absolute path of an executable on PATH, looked up once per process. */
export function findExecutable(name: string): string | undefined {
  toolCache ??= new Map();
  if (toolCache.has(name)) return toolCache.get(name);
  let found: string | undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      found = candidate;
      break;
    } catch {
      /* next */
    }
  }
  toolCache.set(name, found);
  return found;
}

export function defaultPingMethod(): PingMethod {
  if (findExecutable('fping')) return 'fping';
  if (findExecutable(process.platform === 'win32' ? 'ping.exe' : 'ping')) return 'ping';
  return 'none';
}
