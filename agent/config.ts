import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

/** The proxy variables the agent reads (either case). */
const PROXY_VARIABLES = ['https_proxy', 'no_proxy'] as const;
/** Most characters of NO_PROXY read (a list of host names: far below this in practice). */
const NO_PROXY_MAX_CHARS = 65_536;

/** `host:port` or `http://[user:pass@]host[:port]` → the proxy's URL; only HTTP CONNECT proxies are spoken. */
const ProxyUrl = z
  .string()
  .trim()
  .min(1)
  .transform((raw, ctx) => {
    let u: URL;
    try {
      u = new URL(raw.includes('://') ? raw : `http://${raw}`);
    } catch {
      // The value is not echoed: it may carry the proxy's password.
      ctx.addIssue({ code: 'custom', message: 'is not a URL (expected http://[user:password@]host[:port])' });
      return z.NEVER;
    }
    if (u.protocol !== 'http:' || !u.hostname) {
      ctx.addIssue({ code: 'custom', message: `must be an http:// proxy (HTTP CONNECT; got ${u.protocol}//)` });
      return z.NEVER;
    }
    return u.href;
  });

/**
 * The connection to the server through an HTTP CONNECT proxy, from the standard variables
 * (https_proxy / HTTPS_PROXY, no_proxy / NO_PROXY; the lowercase one wins, as in curl).
 */
export const ProxySettings = z
  .object({ https_proxy: ProxyUrl.optional(), no_proxy: z.string().max(NO_PROXY_MAX_CHARS) })
  .strict();
export type ProxySettings = z.infer<typeof ProxySettings>;

/** Agent settings: command-line flags > NMSLITE_AGENT_* environment > JSON config file > defaults. */
export const AgentConfig = z
  .object({
    /** From the proxy variables only (loadProxySettings), never flags or the config file. */
    proxy: ProxySettings,
    home: z.string().min(1),
    identity: z.string().min(1),
    spool_dir: z.string().min(1),
    spool_cap_mb: z.coerce.number().int().min(1).max(1_000_000).default(1024),
    max_in_flight: z.coerce.number().int().min(1).max(100_000).default(2000),
    max_concurrent: z.coerce.number().int().min(1).max(10_000).default(500),
    per_target_concurrent: z.coerce.number().int().min(1).max(16).default(2),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    ping_before_poll: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).default(true),
    /** Past this long without the server the agent stops polling (fractions allowed, e.g. 0.01 = 36 s). */
    max_offline_hours: z.coerce
      .number({ error: 'must be a number of hours' })
      .finite('must be a number of hours')
      .positive('must be more than 0')
      .max(87_600, 'must be at most 87600 (ten years)')
      .default(72),
  })
  .strict();
export type AgentConfig = z.infer<typeof AgentConfig>;

const KEYS: (keyof AgentConfig)[] = [
  'home',
  'identity',
  'spool_dir',
  'spool_cap_mb',
  'max_in_flight',
  'max_concurrent',
  'per_target_concurrent',
  'log_level',
  'ping_before_poll',
  'max_offline_hours',
];

/** True when the agent reads this environment variable (used to check deployment files). */
export const isAgentEnv = (name: string): boolean =>
  name === 'NMSLITE_AGENT_CONFIG' ||
  PROXY_VARIABLES.includes(name.toLowerCase() as (typeof PROXY_VARIABLES)[number]) ||
  KEYS.some((k) => name === `NMSLITE_AGENT_${k.toUpperCase()}`);

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses the proxy variables once; a bad HTTPS_PROXY names the variable. */
export function loadProxySettings(env: Record<string, string | undefined>): ProxySettings {
  const read = (name: (typeof PROXY_VARIABLES)[number]): [string, string | undefined] => {
    const lower = env[name];
    if (lower) return [name, lower];
    return [name.toUpperCase(), env[name.toUpperCase()] || undefined];
  };
  const [proxyName, proxy] = read('https_proxy');
  const r = ProxySettings.safeParse({ ...(proxy ? { https_proxy: proxy } : {}), no_proxy: read('no_proxy')[1] ?? '' });
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new ConfigError(`invalid ${i.path[0] === 'https_proxy' ? proxyName : 'NO_PROXY'}: ${i.message}`);
  }
  return Object.freeze(r.data);
}

export function loadAgentConfig(
  flags: Record<string, string | boolean | undefined>,
  env: Record<string, string | undefined>,
): Readonly<AgentConfig> {
  const fileSettings: Record<string, unknown> = {};
  const file = (flags.config as string | undefined) ?? env.NMSLITE_AGENT_CONFIG;
  if (file) {
    try {
      Object.assign(fileSettings, JSON.parse(readFileSync(file, 'utf8')));
    } catch (err) {
      throw new ConfigError(`cannot read the agent config file ${file}: ${(err as Error).message}`);
    }
  }
  const pick = (k: keyof AgentConfig): unknown => {
    const flag = flags[k.replace(/_/g, '-')];
    if (flag !== undefined && flag !== true) return flag;
    const e = env[`NMSLITE_AGENT_${k.toUpperCase()}`];
    if (e !== undefined && e !== '') return e;
    return fileSettings[k];
  };
  const home = (pick('home') as string | undefined) ?? join(homedir(), '.nmslite-agent');
  const raw: Record<string, unknown> = {
    proxy: loadProxySettings(env),
    home,
    identity: pick('identity') ?? join(home, 'identity.json'),
    spool_dir: pick('spool_dir') ?? join(home, 'spool'),
    // Unset ones take the schema's defaults (above, the only place they are written).
    spool_cap_mb: pick('spool_cap_mb'),
    max_in_flight: pick('max_in_flight'),
    max_concurrent: pick('max_concurrent'),
    per_target_concurrent: pick('per_target_concurrent'),
    log_level: pick('log_level'),
    ping_before_poll: pick('ping_before_poll'),
    max_offline_hours: pick('max_offline_hours'),
  };
  for (const k of Object.keys(fileSettings))
    if (!KEYS.includes(k as keyof AgentConfig)) throw new ConfigError(`unknown setting '${k}' in ${file}`);
  const r = AgentConfig.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new ConfigError(`invalid agent setting '${i.path.join('.')}': ${i.message}`);
  }
  return Object.freeze({ ...r.data, proxy: Object.freeze(r.data.proxy) });
}
