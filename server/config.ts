import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { SCHEDULE_PART_ASSIGNMENTS } from '../shared/protocol/index.ts';

const _bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]);
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
/** A config file section: only its own keys, each defaulted when the section is left out. */
const section = <S extends z.ZodRawShape>(shape: S) => {
  const o = z.object(shape).strict();
  // Every key of a section has a default, so {} is a valid input; the generic shape cannot say so.
  return o.prefault({} as z.input<typeof o>);
};

/** Every server setting, grouped as in the config file. Sources: flags > env > file > defaults. */
/** The example values shipped in .env.example: a server started with one of them is open to anyone who read it. */
const notPlaceholder = (v: string): boolean => !/change-me|REPLACE_WITH/i.test(v);
const PLACEHOLDER_MESSAGE = 'is still the example value from .env.example; generate a secret (openssl rand -hex 32)';

export const ServerConfig = z
  .object({
    server: section({
      host: z.string().min(1).default('0.0.0.0'),
      port: int(0, 65535).default(8443),
      tls_cert_file: z.string().min(1).optional(),
      tls_key_file: z.string().min(1).optional(),
      request_body_limit_kb: int(1, 100_000).default(1024),
      /** Deepest nesting of arrays/objects accepted in a JSON request body (REST and tRPC); deeper is a 400 before auth. */
      json_max_depth: int(2, 10_000).default(64),
      /** Most open connections to the HTTPS port (agents' WebSockets included); lowered to fit the process's fd limit (logged). */
      max_connections: int(16, 1_000_000).default(10_000),
      /** Most open connections from one source address (counted before TLS); keep it well below max_connections. */
      max_connections_per_address: int(1, 1_000_000).default(256),
      /** A connection that has not finished its TLS handshake by then is closed. */
      tls_handshake_timeout_ms: int(100, 120_000).default(10_000),
      /** Time to receive a request's head (headersTimeout); at most request_timeout_ms. */
      headers_timeout_ms: int(100, 300_000).default(10_000),
      /** Time to receive a whole request, body included (requestTimeout). */
      request_timeout_ms: int(1000, 3_600_000).default(60_000),
      /** The address clients reach the server at (OpenAPI `servers`); unset: the document uses the relative /api/v1. */
      public_url: z
        .string()
        .url()
        .regex(/^https?:\/\/[^/?#]+(\/[^?#]*)?$/, 'must be an http(s) URL without query or fragment')
        .transform((u) => u.replace(/\/+$/, ''))
        .optional(),
    }),
    data_dir: z.string().min(1).default('./data'),
    database: section({
      url: z
        .string()
        .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
        .optional(),
      pool_max: int(2, 500).default(20),
      embedded_port: int(1, 65535).default(54329),
    }),
    auth: section({
      username: z.string().min(1).max(100).default('admin'),
      password: z
        .string()
        .min(8, 'must be at least 8 characters')
        .max(200)
        .refine(notPlaceholder, PLACEHOLDER_MESSAGE)
        .optional(),
      jwt_secret: z
        .string()
        .min(32, 'must be at least 32 characters')
        .refine(notPlaceholder, PLACEHOLDER_MESSAGE)
        .optional(),
      token_ttl_s: int(60, 7 * 86400).default(86400),
      login_max_failures: int(1, 1000).default(5),
      login_window_s: int(1, 86400).default(300),
      /** After login_max_failures failures for one username (from any addresses): locked this long, doubling per further failure. */
      login_lockout_base_s: int(1, 86400).default(30),
      login_lockout_max_s: int(1, 7 * 86400).default(3600),
    }),
    /** 32 bytes, base64 or hex: encrypts credential-profile passwords (AES-256-GCM). */
    master_key: z.string().min(1).refine(notPlaceholder, PLACEHOLDER_MESSAGE).optional(),
    log: section({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }),
    agents: section({
      heartbeat_ms: int(200, 300_000).default(10_000),
      auth_timeout_ms: int(100, 60_000).default(5000),
      max_connections: int(1, 1_000_000).default(5000),
      retry_after_s: int(1, 3600).default(5),
      enrollment_ttl_h: int(1, 24 * 365).default(24),
      /** Most assignments per schedule.full part (the protocol's SCHEDULE_PART_ASSIGNMENTS is the ceiling). */
      schedule_part_assignments: int(1, SCHEDULE_PART_ASSIGNMENTS).default(SCHEDULE_PART_ASSIGNMENTS),
      /** Changes to one agent's assignments within this window go out as one delta. */
      schedule_debounce_ms: int(0, 900).default(150),
      /** An agent session whose socket holds more than this many MiB not yet written (the agent stopped reading) is closed with 4029. */
      max_unsent_mb: int(1, 4096).default(64),
    }),
    polling: section({
      /** A poll's deadline after its scheduled time (never more than the monitor's interval). */
      job_timeout_s: int(1, 3600).default(30),
      /** A monitor without a result by its due time + interval + this is marked agent_offline or timeout. */
      grace_s: int(1, 3600).default(15),
      /** Unused since protocol 2 (the agent runs its own schedule); still accepted so older config files start. */
      batch_size: int(1, 10_000).default(500),
      /** Most on-demand polls (POST /monitors/:id/poll) in flight per agent; beyond it 429. */
      on_demand_per_agent: int(1, 1000).default(16),
      /** Waited beyond the poll's timeout for an on-demand answer before reporting `timeout`. */
      on_demand_margin_s: int(1, 600).default(5),
    }),
    health: section({ failure_threshold: int(1, 1000).default(5), window_s: int(10, 7 * 86400).default(600) }),
    metrics: z
      .object({
        /** Raw samples are kept this many days; 0 keeps them forever (the default). */
        retention_days: int(0, 100_000).default(0),
        /** TimescaleDB: compress raw chunks older than this; 0 turns compression off. */
        compress_after_days: int(0, 100_000).default(7),
        /** TimescaleDB: the raw table's chunk interval (new chunks; the aggregates get 10x and 100x). */
        chunk_interval_h: int(1, 24 * 366).default(24),
        /** TimescaleDB: days the 5-minute and 1-hour aggregates keep; 0 forever. */
        aggregate_5m_retention_days: int(0, 100_000).default(0),
        aggregate_1h_retention_days: int(0, 100_000).default(0),
        /** TimescaleDB: compress aggregate chunks older than this; 0 turns it off. */
        aggregate_compress_after_days: int(0, 100_000).default(30),
        max_raw_points: int(10, 1_000_000).default(10_000),
        latest_cache_ms: int(0, 600_000).default(5000),
        writer_batch: int(1, 100_000).default(5000),
        writer_flush_ms: int(1, 60_000).default(50),
        /** Most results queued in the metrics writer; a batch beyond it waits (its agent is not acked, then not read). */
        writer_max_queued: int(1, 10_000_000).default(50_000),
        /** Longest a batch waits for room in the writer's queue; then its session is closed with "resend" (the agent keeps it). */
        writer_max_wait_s: int(1, 3600).default(30),
      })
      .strict()
      .superRefine((m, ctx) => {
        // Each layer keeps at least as long as the one it is computed from (0 = forever): a shorter
        // one would drop summaries of data that is still there.
        const layers = [
          ['retention_days', m.retention_days],
          ['aggregate_5m_retention_days', m.aggregate_5m_retention_days],
          ['aggregate_1h_retention_days', m.aggregate_1h_retention_days],
        ] as const;
        for (let i = 1; i < layers.length; i++) {
          const [below, b] = layers[i - 1]!;
          const [name, v] = layers[i]!;
          if (v !== 0 && (b === 0 || v < b))
            ctx.addIssue({
              code: 'custom',
              path: [name],
              message: `must be 0 (forever) or at least ${below} (${b === 0 ? 'forever' : b})`,
            });
        }
      })
      .prefault({}),
    discovery: section({ wait_s: int(0, 3600).default(60), run_timeout_s: int(10, 86400).default(3600) }),
    /** Audit log entries older than this many days are deleted (hourly); 0 keeps them forever. */
    audit: section({ retention_days: int(0, 100_000).default(365) }),
    grafana: section({
      /** Password of the read-only role nmslite_grafana (Grafana's data source); set: the role may log in with it. */
      db_password: z
        .string()
        .min(16, 'must be at least 16 characters')
        .max(200)
        .regex(/^[ -~]+$/, 'must be printable ASCII')
        .refine(notPlaceholder, PLACEHOLDER_MESSAGE)
        .optional(),
    }),
    /** GET /metrics (Prometheus). Off unless a token is set (then it is required) or enabled is true (then served without one). */
    prometheus: section({
      enabled: _bool.optional(),
      token: z
        .string()
        .min(16, 'must be at least 16 characters')
        .max(512)
        .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces (it is sent as a bearer token)')
        .refine(notPlaceholder, PLACEHOLDER_MESSAGE)
        .optional(),
    }),
    /** GET /install/*: agent binaries (`npm run build:agent` writes them to ./dist) and install scripts, unauthenticated, within these limits. */
    install: section({
      agents_dir: z.string().min(1).default('./dist'),
      max_binary_mb: int(1, 4096).default(512),
      /** Requests to /install/ per source address per minute. */
      requests_per_minute: int(1, 1_000_000).default(60),
      max_concurrent_downloads: int(1, 10_000).default(8),
      max_downloads_per_address: int(1, 10_000).default(2),
      /** A binary download still running after this long is cut off (its slot freed). */
      download_timeout_s: int(10, 86_400).default(900),
    }),
  })
  .strict();
export type ServerConfig = z.infer<typeof ServerConfig>;
export type ServerConfigInput = z.input<typeof ServerConfig>;

/** Environment variables that do not follow NMSLITE_<SECTION>_<KEY> (listed in the README's configuration section). */
const ENV_ALIASES: Record<string, string> = {
  DATABASE_URL: 'database.url',
  AUTH_USERNAME: 'auth.username',
  AUTH_PASSWORD: 'auth.password',
  JWT_SECRET: 'auth.jwt_secret',
  NMSLITE_JWT_SECRET: 'auth.jwt_secret',
  NMSLITE_MASTER_KEY: 'master_key',
  NMSLITE_DATA_DIR: 'data_dir',
  NMSLITE_LOG_LEVEL: 'log.level',
  NMSLITE_SERVER_PORT: 'server.port',
  NMSLITE_SERVER_HOST: 'server.host',
  NMSLITE_TLS_CERT_FILE: 'server.tls_cert_file',
  NMSLITE_TLS_KEY_FILE: 'server.tls_key_file',
  NMSLITE_METRICS_TOKEN: 'prometheus.token',
};

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let o = target;
  for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as Record<string, unknown>;
  o[parts[parts.length - 1]!] = value;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object'
        ? deepMerge(out[k] as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** NMSLITE_<SECTION>_<KEY>=v for any section.key the schema knows, e.g. NMSLITE_AGENTS_HEARTBEAT_MS. */
function fromEnv(env: Record<string, string | undefined>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const sections = ServerConfig.shape;
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || value === '') continue;
    const alias = ENV_ALIASES[name];
    if (alias) {
      setPath(out, alias, value);
      continue;
    }
    const m = /^NMSLITE_([A-Z]+)_([A-Z0-9_]+)$/.exec(name);
    if (!m) continue;
    const section = m[1]!.toLowerCase() as keyof typeof sections;
    const inner = (sections[section] as unknown as { unwrap?: () => { shape?: Record<string, unknown> } })?.unwrap?.()
      .shape;
    const key = m[2]!.toLowerCase();
    if (inner && key in inner) setPath(out, `${section}.${key}`, value);
  }
  return out;
}

/** True when the server reads this environment variable (used to check deployment files). */
export function isServerEnv(name: string): boolean {
  if (name in ENV_ALIASES || name === 'NMSLITE_CONFIG') return true;
  return Object.keys(fromEnv({ [name]: 'x' })).length > 0;
}

/** `--server.port 8443`, `--log.level=debug`, `--config FILE`. */
function fromFlags(argv: string[]): { values: Record<string, unknown>; configFile?: string } {
  const values: Record<string, unknown> = {};
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new ConfigError(`unexpected argument '${a}' (flags look like --server.port 8443)`);
    const eq = a.indexOf('=');
    const key = a.slice(2, eq > 0 ? eq : undefined);
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(`flag --${key} needs a value`);
    if (key === 'config') configFile = value;
    else setPath(values, key.replace(/-/g, '_'), value);
  }
  return { values, ...(configFile ? { configFile } : {}) };
}

export function loadConfig(argv: string[], env: Record<string, string | undefined>): ServerConfigInput {
  const flags = fromFlags(argv);
  const file = flags.configFile ?? env.NMSLITE_CONFIG;
  let fileValues: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw new ConfigError(`config file ${file} cannot be read`);
    }
    try {
      fileValues = (parseYaml(text) ?? {}) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`config file ${file} is not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return deepMerge(deepMerge(fileValues, fromEnv(env)), flags.values) as ServerConfigInput;
}

/** Validates and freezes; a bad value names its setting. */
export function parseConfig(input: unknown): Readonly<ServerConfig> {
  const r = ServerConfig.safeParse(input);
  if (!r.success) {
    const i = r.error.issues[0]!;
    const path = i.path.join('.') || '(root)';
    throw new ConfigError(
      `invalid setting ${path}: ${i.code === 'unrecognized_keys' ? `unknown key(s) ${(i as { keys?: string[] }).keys?.join(', ')}` : i.message}`,
    );
  }
  return deepFreeze(r.data);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
