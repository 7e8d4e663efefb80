import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

/** Agent settings: command-line flags > NMSLITE_AGENT_* environment > JSON config file > defaults. */
export const AgentConfig = z
  .object({
    home: z.string().min(1),
    identity: z.string().min(1),
    spool_dir: z.string().min(1),
    spool_cap_mb: z.coerce.number().int().min(1).max(1_000_000),
    max_in_flight: z.coerce.number().int().min(1).max(100_000),
    max_concurrent: z.coerce.number().int().min(1).max(10_000),
    per_target_concurrent: z.coerce.number().int().min(1).max(16),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    ping_before_poll: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]),
    /** Past this long without the server the agent stops polling (fractions allowed, e.g. 0.01 = 36 s). */
    max_offline_hours: z.coerce
      .number({ error: 'must be a number of hours' })
      .finite('must be a number of hours')
      .positive('must be more than 0')
      .max(87_600, 'must be at most 87600 (ten years)'),
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
  name === 'HTTPS_PROXY' ||
  name === 'NO_PROXY' ||
  KEYS.some((k) => name === `NMSLITE_AGENT_${k.toUpperCase()}`);

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
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
    home,
    identity: pick('identity') ?? join(home, 'identity.json'),
    spool_dir: pick('spool_dir') ?? join(home, 'spool'),
    spool_cap_mb: pick('spool_cap_mb') ?? 1024,
    max_in_flight: pick('max_in_flight') ?? 2000,
    max_concurrent: pick('max_concurrent') ?? 500,
    per_target_concurrent: pick('per_target_concurrent') ?? 2,
    log_level: pick('log_level') ?? 'info',
    ping_before_poll: pick('ping_before_poll') ?? true,
    max_offline_hours: pick('max_offline_hours') ?? 72,
  };
  for (const k of Object.keys(fileSettings))
    if (!KEYS.includes(k as keyof AgentConfig)) throw new ConfigError(`unknown setting '${k}' in ${file}`);
  const r = AgentConfig.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new ConfigError(`invalid agent setting '${i.path.join('.')}': ${i.message}`);
  }
  return Object.freeze(r.data);
}
