import type { CredentialPayload, DiscoveredHost } from '../../shared/protocol/index.ts';
import { ClassifiedError, toFailure } from '../failure.ts';
import { winrmClientOptions } from '../collectors/winrm-client-cache.ts';
import {
  createWinrmClient,
  probeNtlmTarget,
  wmiString,
  type IdentifyResult,
  type NtlmTarget,
  type WinrmClient,
} from '../winrm/index.ts';

export interface IdentifyHostOptions {
  ip: string;
  /** Ports that accepted a TCP connection. */
  openPorts: readonly number[];
  credential: CredentialPayload | null;
  /** WinRM listener to try first (the credential profile's port / use_ssl). */
  prefer?: { port: number; use_ssl: boolean };
  /**
   * Send the credential also to a host whose identity is not proven (plain HTTP, or HTTPS whose
   * certificate the credential does not verify or pin): the discovery profile's explicit opt-in.
   */
  authenticateUnverified?: boolean;
  timeoutMs: number;
  signal?: AbortSignal;
}

interface Listener {
  port: number;
  use_ssl: boolean;
}

function listeners(open: readonly number[], prefer: Listener | undefined): Listener[] {
  const list: Listener[] = [];
  if (prefer && open.includes(prefer.port)) list.push(prefer);
  if (open.includes(5985) && !list.some((l) => l.port === 5985)) list.push({ port: 5985, use_ssl: false });
  if (open.includes(5986) && !list.some((l) => l.port === 5986)) list.push({ port: 5986, use_ssl: true });
  return list;
}

/** Rejects at the deadline or on abort; the WinRM client has its own (longer) timeouts underneath. */
function bounded<T>(
  p: Promise<T>,
  deadline: number,
  signal: AbortSignal | undefined,
  onGiveUp: () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const stop = (why: string): void => {
      cleanup();
      onGiveUp();
      reject(new ClassifiedError('timeout', why));
    };
    const timer = setTimeout(
      () => stop('the host did not answer within the per-host timeout'),
      Math.max(0, deadline - Date.now()),
    );
    const onAbort = (): void => stop('discovery was cancelled');
    signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    p.then(
      (v) => {
        cleanup();
        resolve(v);
      },
      (e: unknown) => {
        cleanup();
        reject(e);
      },
    );
  });
}

/**
 * The credential goes only where the profile said (its own listener, when it names one) and only
 * to a proven host: HTTPS whose certificate the credential verifies or pins. Anything on the
 * network can answer Identify as Microsoft; over HTTP or unchecked HTTPS it would get an NTLMv2
 * response to crack offline (or a Basic password), so there only when the profile opted in.
 */
function mayAuthenticate(l: Listener, o: IdentifyHostOptions, credential: CredentialPayload): boolean {
  if (o.prefer && !(l.port === o.prefer.port && l.use_ssl === o.prefer.use_ssl)) return false;
  const proven = l.use_ssl && (credential.tls_verify ?? 'verify') !== 'insecure';
  return proven || o.authenticateUnverified === true;
}

/** Anonymous Identify on Windows says `OS: 0.0.0`; only a real version counts. */
function realVersion(v: string | undefined): string | null {
  return v && /[1-9]/.test(v) ? v : null;
}

function isMicrosoft(r: IdentifyResult): boolean {
  return /microsoft/i.test(r.productVendor);
}

/**
 * Anonymous WS-Man Identify on each open WinRM port until one answers as Microsoft's stack; the
 * host's NTLM CHALLENGE (no credential sent) for its name and OS version; then, where
 * mayAuthenticate allows, Win32_ComputerSystem and Win32_OperatingSystem for the hostname and OS.
 * Returns undefined for anything that is not a Windows WinRM listener.
 */
export async function identifyHost(o: IdentifyHostOptions): Promise<DiscoveredHost | undefined> {
  const deadline = Date.now() + o.timeoutMs;
  const timeouts = {
    connectMs: Math.max(1, Math.min(o.timeoutMs, 5000)),
    readMs: Math.max(1, o.timeoutMs),
    operationSec: Math.max(1, Math.ceil(o.timeoutMs / 1000)),
  };
  for (const l of listeners(o.openPorts, o.prefer)) {
    if (o.signal?.aborted || Date.now() >= deadline) return undefined;
    // Identify sends no secret, so the listener's certificate need not be trusted to ask it.
    const anon = createWinrmClient({
      host: o.ip,
      port: l.port,
      https: l.use_ssl,
      auth: 'basic',
      username: 'anonymous',
      password: '',
      tls: { mode: 'insecure' },
      timeouts,
    });
    let id: IdentifyResult;
    try {
      id = await bounded(anon.identify({ anonymous: true }), deadline, o.signal, () => anon.close());
    } catch {
      continue;
    } finally {
      anon.close();
    }
    if (!isMicrosoft(id)) continue;
    const host: DiscoveredHost = {
      ip: o.ip,
      port: l.port,
      use_ssl: l.use_ssl,
      hostname: null,
      os: null,
      os_version: realVersion(id.osVersion),
      winrm_stack: id.stackVersion ?? null,
    };
    const left = Math.max(1, deadline - Date.now());
    const claimed = await bounded(
      probeNtlmTarget({
        host: o.ip,
        port: l.port,
        https: l.use_ssl,
        connectTimeoutMs: Math.min(left, 5000),
        readTimeoutMs: left,
      }),
      deadline,
      o.signal,
      () => undefined,
    ).catch((): NtlmTarget | undefined => undefined);
    if (claimed) {
      host.hostname = claimed.dnsComputer ?? claimed.netbiosComputer ?? null;
      host.os_version ??= claimed.osVersion ?? null;
    }
    if (o.signal?.aborted) return undefined;
    if (!o.credential || !mayAuthenticate(l, o, o.credential)) return host;
    let client: WinrmClient | undefined;
    try {
      client = createWinrmClient({
        ...winrmClientOptions({ ip: o.ip, port: l.port, use_ssl: l.use_ssl }, o.credential, { maxConnections: 1 }),
        timeouts,
      });
      const c = client;
      const [cs, os] = await bounded(
        (async () => {
          const cs = await c.enumerate('SELECT DNSHostName, Name, Domain FROM Win32_ComputerSystem');
          const os = await c.enumerate('SELECT Caption, Version, CSName FROM Win32_OperatingSystem');
          return [cs[0], os[0]] as const;
        })(),
        deadline,
        o.signal,
        () => c.close(),
      );
      host.hostname = wmiString(cs, 'DNSHostName') || wmiString(cs, 'Name') || wmiString(os, 'CSName') || host.hostname;
      host.os = wmiString(os, 'Caption') || null;
      host.os_version = wmiString(os, 'Version') || host.os_version;
    } catch (err) {
      host.error = toFailure(err);
    } finally {
      client?.close();
    }
    return host;
  }
  return undefined;
}
