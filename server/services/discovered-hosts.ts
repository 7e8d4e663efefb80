import { z } from 'zod';
import { Failure } from '../../shared/failures.ts';
import type { DiscoveredHost } from '../../shared/protocol/index.ts';
import { targetIncludes } from '../../shared/targets.ts';

// No control characters (C0, DEL, C1): a stored host name or OS string is shown by every client.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !CONTROL.test(s), 'control characters');

/** What the server stores of a host an agent discovered; the limits match the devices API. */
const StorableHost = z.object({
  ip: z.string(),
  port: z.number().int().min(1).max(65535),
  use_ssl: z.boolean(),
  hostname: text(255)
    .refine((s) => !/\s/.test(s), 'whitespace')
    .nullable(),
  os: text(255).nullable(),
  os_version: text(100).nullable(),
  winrm_stack: text(50).nullable().optional(),
  error: Failure.optional(),
});

/** The agent's per-host error as stored and shown: its class and code, its message on one bounded line. */
const storableError = (f: Failure): Failure => ({
  class: f.class,
  message: f.message.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').slice(0, 500),
  ...(f.code !== undefined && /^[\w.:-]{1,100}$/.test(f.code) ? { code: f.code } : {}),
});

export type RefusalReason = 'outside_target' | 'bad_port' | 'bad_hostname' | 'bad_os' | 'bad_field';

export interface ScreenedHosts {
  accepted: DiscoveredHost[];
  refused: number;
  reasons: Partial<Record<RefusalReason, number>>;
}

/**
 * An agent's discovery result is input like any other: only IPv4 addresses inside the profile's
 * target (as checkTarget parsed it), ports 1-65535 and bounded strings are kept. The rest is
 * counted by reason, for one log line per result part.
 */
export function screenHosts(
  hosts: readonly DiscoveredHost[],
  ranges: readonly (readonly [number, number])[],
): ScreenedHosts {
  const out: ScreenedHosts = { accepted: [], refused: 0, reasons: {} };
  const refuse = (why: RefusalReason) => {
    out.refused++;
    out.reasons[why] = (out.reasons[why] ?? 0) + 1;
  };
  for (const h of hosts) {
    if (typeof h.ip !== 'string' || !targetIncludes(ranges, h.ip)) {
      refuse('outside_target');
      continue;
    }
    const r = StorableHost.safeParse(h);
    if (!r.success) {
      const field = String(r.error.issues[0]?.path[0] ?? '');
      refuse(
        field === 'port'
          ? 'bad_port'
          : field === 'hostname'
            ? 'bad_hostname'
            : field === 'os' || field === 'os_version'
              ? 'bad_os'
              : 'bad_field',
      );
      continue;
    }
    out.accepted.push({
      ip: r.data.ip,
      port: r.data.port,
      use_ssl: r.data.use_ssl,
      hostname: r.data.hostname,
      os: r.data.os,
      os_version: r.data.os_version,
      winrm_stack: r.data.winrm_stack ?? null,
      ...(r.data.error ? { error: storableError(r.data.error) } : {}),
    });
  }
  return out;
}
