import type { CredentialPayload, DiscoveredHost } from '../../shared/protocol/index.ts';
import { identifyHost } from './identify.ts';
import { createLimiter, mapLimit } from './map-limit.ts';
import { probeHost, WINDOWS_PORTS } from './probe.ts';
import { sweep, type PingMethod, type SweepOptions, type SweepResult } from './sweep.ts';
import { parseTarget } from '../../shared/targets.ts';

export interface DiscoveryProgress {
  scanned: number;
  total: number;
  found: number;
}

export interface DiscoverOptions {
  /** CIDR, range `a-b` or `a-lastOctet`, address, or comma list, up to a /16 (shared/targets.ts; TargetError otherwise, before anything is sent). */
  target: string;
  /** Also TCP-probe hosts that do not answer ping (firewalled ICMP). */
  portScan?: boolean;
  /** For hostname and OS; without one, hosts are found by Identify alone. */
  credential: CredentialPayload | null;
  /** The credential profile's WinRM listener, tried first. */
  prefer?: { port: number; use_ssl: boolean };
  /** Send the credential also to hosts whose identity is not proven (see identifyHost); default false. */
  authenticateUnverified?: boolean;
  /** Hosts probed and identified at once. */
  concurrency?: number;
  /** Budget for one host's TCP probe, and again for its Identify + WMI queries. */
  perHostTimeoutMs?: number;
  pingTimeoutMs?: number;
  pingMethod?: PingMethod;
  /** Replaces the ICMP sweep (a site-specific tool; tests that need hosts which do not answer ping). */
  sweepFn?: (ips: string[], o: SweepOptions) => Promise<SweepResult>;
  signal?: AbortSignal;
  /** Called at most every progressIntervalMs while running, and once at the end. */
  onProgress?: (p: DiscoveryProgress) => void;
  progressIntervalMs?: number;
}

export interface DiscoveryResult {
  scanned: number;
  total: number;
  found: DiscoveredHost[];
  cancelled: boolean;
  /** How liveness was checked: fping, ping, none (no tool: every host was probed). */
  ping_method: PingMethod | 'skipped';
  elapsed_ms: number;
}

/** Addresses swept per fping run; bounds memory and gives progress on large targets. */
const CHUNK = 256;
/** Chunks swept at once: most of a sweep is waiting for replies that never come. */
const PARALLEL_SWEEPS = 4;

function* chunks(it: Iterable<string>, size: number): Generator<string[]> {
  let batch: string[] = [];
  for (const ip of it) {
    batch.push(ip);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}

/**
 * Finds the Windows hosts of a target: ping sweep → TCP probe of 135/5985/5986 → anonymous
 * WS-Man Identify → the NTLM CHALLENGE's names and version → authenticated WMI query for
 * hostname and OS where the host is proven (or the profile opted in). Cancelling via `signal`
 * returns what was found so far with `cancelled: true`.
 */
export async function discover(o: DiscoverOptions): Promise<DiscoveryResult> {
  const started = Date.now();
  const targets = parseTarget(o.target);
  const total = targets.count;
  const concurrency = o.concurrency ?? 128;
  const perHostTimeoutMs = o.perHostTimeoutMs ?? 3000;
  const progressIntervalMs = o.progressIntervalMs ?? 250;
  const found: DiscoveredHost[] = [];
  let scanned = 0;
  let pingMethod: DiscoveryResult['ping_method'] = o.portScan ? 'skipped' : 'none';
  let lastEmit = 0;
  let trailing: NodeJS.Timeout | undefined;

  const emitNow = (): void => {
    clearTimeout(trailing);
    trailing = undefined;
    lastEmit = Date.now();
    o.onProgress?.({ scanned, total, found: found.length });
  };
  const progress = (): void => {
    if (!o.onProgress) return;
    const wait = lastEmit + progressIntervalMs - Date.now();
    if (wait <= 0) emitNow();
    else trailing ??= setTimeout(emitNow, wait);
  };

  const examine = async (ip: string): Promise<void> => {
    try {
      const open = await probeHost(ip, WINDOWS_PORTS, perHostTimeoutMs, o.signal);
      if (open.includes(5985) || open.includes(5986)) {
        const host = await identifyHost({
          ip,
          openPorts: open,
          credential: o.credential,
          timeoutMs: perHostTimeoutMs,
          authenticateUnverified: o.authenticateUnverified === true,
          ...(o.prefer ? { prefer: o.prefer } : {}),
          ...(o.signal ? { signal: o.signal } : {}),
        });
        if (host && !o.signal?.aborted) found.push(host);
      }
    } catch {
      // One odd host must not end the run; it is simply not reported.
    }
    if (!o.signal?.aborted) {
      scanned++;
      progress();
    }
  };

  const limit = createLimiter(concurrency);
  const scanChunk = async (batch: string[]): Promise<void> => {
    let candidates = batch;
    if (!o.portScan) {
      const swept = await (o.sweepFn ?? sweep)(batch, {
        timeoutMs: o.pingTimeoutMs ?? 500,
        ...(o.signal ? { signal: o.signal } : {}),
        ...(o.pingMethod ? { method: o.pingMethod } : {}),
      });
      if (o.signal?.aborted) return;
      pingMethod = swept.method;
      // Without a ping tool every address is a candidate, as with port_scan.
      if (swept.method !== 'none') {
        candidates = batch.filter((ip) => swept.alive.has(ip));
        scanned += batch.length - candidates.length;
        progress();
      }
    }
    await Promise.all(candidates.map((ip) => limit(() => (o.signal?.aborted ? Promise.resolve() : examine(ip)))));
  };
  try {
    await mapLimit(chunks(targets, CHUNK), PARALLEL_SWEEPS, scanChunk, o.signal);
  } finally {
    clearTimeout(trailing);
  }
  found.sort((a, b) => ipOrder(a.ip) - ipOrder(b.ip));
  if (o.onProgress) emitNow();
  return {
    scanned,
    total,
    found,
    cancelled: o.signal?.aborted ?? false,
    ping_method: pingMethod,
    elapsed_ms: Date.now() - started,
  };
}

function ipOrder(ip: string): number {
  return ip.split('.').reduce((n, p) => n * 256 + Number(p), 0);
}
