import { z } from 'zod';
import { enumerate, type EnumerateOptions } from './enumerate.ts';
import { get, type GetOptions } from './get.ts';
import { identify, type IdentifyResult } from './identify.ts';
import { runPowerShellInShell, type PowerShellOptions } from './powershell.ts';
import { openShell, type CommandResult, type RunOptions, type ShellOptions, type WinrmShell } from './shell.ts';
import { Transport, type NtlmFactory, type TransportStats } from './transport.ts';
import type { WmiInstance } from './wmi-instance.ts';
import { readTimeoutFor, type WsmanContext } from './wsman-call.ts';
import { defaultNtlmFactory } from './ntlm-factory.ts';

/** IdleTimeOut of the shells runCommand/runPowerShell open. */
const SHELL_IDLE_TIMEOUT_SEC = 300;

export const WinrmClientOptions = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).optional(),
    https: z.boolean().default(false),
    auth: z.enum(['basic', 'ntlm']),
    username: z.string().min(1),
    password: z.string(),
    domain: z.string().optional(),
    tls: z
      .object({
        mode: z.enum(['verify', 'pin', 'insecure']).default('verify'),
        fingerprint: z.string().optional(),
        ca: z.union([z.string(), z.array(z.string())]).optional(),
      })
      .default({ mode: 'verify' })
      .refine((t) => t.mode !== 'pin' || (t.fingerprint ?? '').replace(/[^0-9a-fA-F]/g, '').length === 64, {
        message: "tls.mode 'pin' needs a SHA-256 fingerprint (64 hex digits)",
      }),
    /**
     * 'auto' seals NTLM traffic over HTTP, which a default Windows host requires, and refuses Basic
     * over HTTP (the password would travel in clear text); 'never' allows both unencrypted.
     */
    encryption: z.enum(['auto', 'always', 'never']).default('auto'),
    timeouts: z
      .object({
        connectMs: z.number().int().positive().default(5000),
        /** HTTP read timeout; always raised above the operation timeout. */
        readMs: z.number().int().positive().default(30000),
        /** WS-Man OperationTimeout: how long the host may hold a request. */
        operationSec: z.number().positive().default(20),
      })
      .default({ connectMs: 5000, readMs: 30000, operationSec: 20 }),
    /** Authenticated connections this client may hold to the host at once. */
    maxConnections: z.number().int().min(1).max(64).default(2),
    maxEnvelopeSize: z.number().int().min(8192).default(512000),
    locale: z.string().default('en-US'),
  })
  .strict();
export type WinrmClientOptions = z.input<typeof WinrmClientOptions>;

export interface WinrmClient {
  readonly host: string;
  readonly url: string;
  /** True when requests are NTLM-sealed (MS-WSMV 2.2.9.1.1). */
  readonly encrypted: boolean;
  readonly stats: TransportStats;
  readonly maxConnections: number;
  identify(o?: { anonymous?: boolean }): Promise<IdentifyResult>;
  /** WQL query (`SELECT … FROM Win32_X`) or full options. */
  enumerate(query: string | EnumerateOptions): Promise<WmiInstance[]>;
  get(o: GetOptions): Promise<WmiInstance>;
  /** Opens a WinRS shell; the caller must `close()` it. */
  shell(o?: ShellOptions): Promise<WinrmShell>;
  /** Create shell → run → Delete shell. */
  runCommand(command: string, args?: string[], o?: RunOptions): Promise<CommandResult>;
  runPowerShell(script: string, o?: PowerShellOptions): Promise<CommandResult>;
  close(): void;
}

function splitUser(username: string, domain: string | undefined): { username: string; domain?: string } {
  const i = username.indexOf('\\');
  if (i > 0 && domain === undefined) return { domain: username.slice(0, i), username: username.slice(i + 1) };
  return domain === undefined ? { username } : { username, domain };
}

export function createWinrmClient(input: WinrmClientOptions, deps: { ntlm?: NtlmFactory } = {}): WinrmClient {
  const parsed = WinrmClientOptions.safeParse(input);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new TypeError(
      `invalid WinRM client options: ${first ? `${first.path.join('.')}: ${first.message}` : 'unknown'}`,
    );
  }
  const o = Object.freeze(parsed.data);
  const port = o.port ?? (o.https ? 5986 : 5985);
  const readMs = Math.max(o.timeouts.readMs, readTimeoutFor(o.timeouts.operationSec));
  const tls: ConstructorParameters<typeof Transport>[0]['tls'] = { mode: o.tls.mode };
  if (o.tls.fingerprint) tls.fingerprint = o.tls.fingerprint;
  if (o.tls.ca) tls.ca = o.tls.ca;
  const transport = new Transport({
    host: o.host,
    port,
    https: o.https,
    tls,
    auth: o.auth,
    credentials: { ...splitUser(o.username, o.domain), password: o.password },
    ntlm: deps.ntlm ?? defaultNtlmFactory,
    encryption: o.encryption,
    connectTimeoutMs: o.timeouts.connectMs,
    readTimeoutMs: readMs,
    maxConnections: o.maxConnections,
  });
  const ctx: WsmanContext = {
    transport,
    maxEnvelopeSize: o.maxEnvelopeSize,
    operationTimeoutSec: o.timeouts.operationSec,
    locale: o.locale,
    readTimeoutMs: readMs,
  };
  const withShell = async <T>(fn: (s: WinrmShell) => Promise<T>): Promise<T> => {
    // If the Delete below is lost, the host reaps the shell after 5 idle minutes instead of its
    // default 2 hours: old hosts allow only 5 shells per user.
    const shell = await openShell(ctx, { idleTimeoutSec: SHELL_IDLE_TIMEOUT_SEC });
    try {
      return await fn(shell);
    } finally {
      await shell.close().catch(() => undefined);
    }
  };
  return {
    host: o.host,
    url: transport.url,
    encrypted: transport.encrypted,
    stats: transport.stats,
    maxConnections: o.maxConnections,
    identify: (io) => identify(transport, io?.anonymous ?? false),
    enumerate: (q) => enumerate(ctx, typeof q === 'string' ? { wql: q } : q),
    get: (g) => get(ctx, g),
    shell: (so) => openShell(ctx, so),
    runCommand: (command, args, ro) => withShell((s) => s.run(command, args, ro)),
    runPowerShell: (script, po) => withShell((s) => runPowerShellInShell(s, script, po)),
    close: () => transport.close(),
  };
}
