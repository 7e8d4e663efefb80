import { z } from 'zod';
import { createHostProfile } from './host-profile.ts';
import { ntlmAcceptorFor } from './ntlm-adapter.ts';
import { SimHost, type AuthMode, type HostFaults } from './sim-host.ts';
import { selfSignedCert } from './tls-cert.ts';

/** The agent's metrics script marker (agent/winrm/metrics-script.ts METRICS_SCRIPT_MARKER), kept as data. */
export const DEFAULT_METRICS_MARKER = 'nmslite-metrics-v1';

export const WinsimOptions = z
  .object({
    hosts: z.number().int().min(1).max(20000),
    bind: z
      .string()
      .regex(/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/, 'bind must be a loopback IPv4 address')
      .default('127.0.0.1'),
    /** Each host gets its own address (bind, bind+1, …) on portBase instead of its own port. */
    distinctAddresses: z.boolean().default(false),
    /** 0 = OS-assigned ports (tests); default 5985 with distinctAddresses, else 15985. */
    portBase: z.number().int().min(0).max(65535).optional(),
    user: z.string().min(1).default('Administrator'),
    password: z.string().min(1).optional(),
    auth: z.enum(['ntlm', 'basic', 'both']).default('both'),
    https: z.boolean().default(false),
    seed: z.number().int().default(1),
    /** How long simulated values hold before they move on. */
    tickMs: z.number().int().min(100).default(10_000),
    maxShellsPerHost: z.number().int().min(1).default(30),
    metricsMarker: z.string().min(1).default(DEFAULT_METRICS_MARKER),
    /** Fixed OS for every host (default: a mix of 2012 R2, 2016, 2019, 2022 by host index). */
    os: z.enum(['2012 R2', '2016', '2019', '2022']).optional(),
  })
  .strict();
export type WinsimOptions = z.input<typeof WinsimOptions> & {
  /** Faults from the start: the same for every host, or chosen per host index. */
  faults?: Partial<HostFaults> | ((index: number) => Partial<HostFaults>);
  /** Simulated time source (ms since epoch); tests may freeze or step it. */
  clock?: () => number;
};

export interface WinsimHost {
  hostname: string;
  address: string;
  port: number;
  url: string;
  user: string;
  password: string;
  auth: AuthMode;
  tls: boolean;
  fingerprint?: string;
  setFault(patch: Partial<HostFaults>): Promise<void>;
  faults(): Readonly<HostFaults>;
  truth: SimHost['truth'];
  /** The host object behind the handle (counters, open shells and enumerations). */
  sim: SimHost;
}

export interface Winsim {
  hosts: WinsimHost[];
  /** SHA-256 fingerprint of the shared self-signed certificate (https only). */
  fingerprint?: string;
  stop(): Promise<void>;
}

function nthAddress(base: string, n: number): string {
  const parts = base.split('.').map(Number);
  const value = ((parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) + n;
  if (value > 0xffffff) throw new Error('too many hosts for distinct loopback addresses');
  return `127.${(value >> 16) & 255}.${(value >> 8) & 255}.${value & 255}`;
}

/** Starts N simulated Windows hosts on loopback; resolves once every one listens. */
export async function startWinsim(options: WinsimOptions): Promise<Winsim> {
  const { faults, clock, ...rest } = options;
  const o = WinsimOptions.parse(rest);
  const tls = o.https ? await selfSignedCert() : null;
  const now = clock ?? Date.now;
  const startMs = now();
  const portBase = o.portBase ?? (o.distinctAddresses ? (o.https ? 5986 : 5985) : o.https ? 15986 : 15985);
  const sims: SimHost[] = [];
  for (let i = 0; i < o.hosts; i++) {
    const profile = createHostProfile(o.seed, i, o.os);
    sims.push(
      new SimHost({
        profile,
        address: o.distinctAddresses ? nthAddress(o.bind, i) : o.bind,
        port: portBase === 0 ? 0 : o.distinctAddresses ? portBase : portBase + i,
        user: o.user,
        password: o.password ?? `Winsim!${o.seed}-${i}`,
        auth: o.auth,
        tls,
        tickMs: o.tickMs,
        startMs,
        clock: now,
        maxShells: o.maxShellsPerHost,
        metricsMarker: o.metricsMarker,
        ntlm: o.auth === 'basic' ? null : ntlmAcceptorFor(profile.hostname),
        faults: typeof faults === 'function' ? faults(i) : (faults ?? {}),
      }),
    );
  }
  try {
    for (let i = 0; i < sims.length; i += 200) await Promise.all(sims.slice(i, i + 200).map((h) => h.listen()));
  } catch (err) {
    await Promise.all(sims.map((h) => h.stop()));
    throw err;
  }
  return {
    hosts: sims.map((h) => ({
      hostname: h.profile.hostname,
      address: h.address,
      port: h.port,
      url: h.url,
      user: h.user,
      password: h.password,
      auth: h.auth,
      tls: h.tls,
      ...(h.fingerprint ? { fingerprint: h.fingerprint } : {}),
      setFault: (patch) => h.setFault(patch),
      faults: () => h.currentFaults(),
      truth: (atMs?: number) => h.truth(atMs),
      sim: h,
    })),
    ...(tls ? { fingerprint: tls.fingerprint } : {}),
    stop: async () => {
      await Promise.all(sims.map((h) => h.stop()));
    },
  };
}
