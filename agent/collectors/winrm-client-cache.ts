import { createHash } from 'node:crypto';
import { createWinrmClient, type WinrmClient, type WinrmClientOptions } from '../winrm/index.ts';
import type { CredentialPayload, PollTarget } from '../../shared/protocol/index.ts';
import { ClassifiedError } from '../failure.ts';

export interface WinrmClientCacheOptions {
  /** A client unused this long is closed (its keep-alive connections with it). */
  idleMs?: number;
  /**
   * Authenticated keep-alive connections per target (default 1). One poll's few WS-Man calls
   * serialise on it; bench/runner-fleet.ts measured 2 per host at 1.6x the RSS and 1.5x the CPU.
   */
  maxConnections?: number;
  connectTimeoutMs?: number;
  create?: (o: WinrmClientOptions) => WinrmClient;
}

export interface CachedClient {
  readonly client: WinrmClient;
  /** Call when the attempt is over; `broken` closes the client (after an abort or a lost connection). */
  release(broken?: boolean): void;
}

export interface WinrmClientCache {
  acquire(target: PollTarget, credential: CredentialPayload | null): CachedClient;
  readonly size: number;
  close(): void;
}

interface Entry {
  client: WinrmClient;
  busy: number;
  lastUsed: number;
  closed: boolean;
  /** Evicted as broken: closed as soon as no job uses it any more. */
  retired: boolean;
}

export function winrmClientOptions(
  target: PollTarget,
  credential: CredentialPayload,
  o: { maxConnections?: number; connectTimeoutMs?: number } = {},
): WinrmClientOptions {
  const tls: NonNullable<WinrmClientOptions['tls']> = { mode: credential.tls_verify ?? 'verify' };
  if (credential.tls_fingerprint) tls.fingerprint = credential.tls_fingerprint;
  const options: WinrmClientOptions = {
    host: target.ip,
    port: target.port,
    https: target.use_ssl,
    auth: credential.type === 'winrm_ntlm' ? 'ntlm' : 'basic',
    username: credential.username,
    password: credential.password,
    tls,
    maxConnections: o.maxConnections ?? 1,
    timeouts: { connectMs: o.connectTimeoutMs ?? 5000, readMs: 30000, operationSec: 20 },
  };
  if (credential.domain) options.domain = credential.domain;
  return options;
}

/**
 * WinRM clients by (target, credential), so the NTLM-authenticated keep-alive connection of
 * one poll serves the next instead of a three-leg handshake every interval. The password is
 * part of the key only as a hash, so a changed credential gets a fresh client.
 */
export function createWinrmClientCache(o: WinrmClientCacheOptions = {}): WinrmClientCache {
  const idleMs = o.idleMs ?? 5 * 60_000;
  const create = o.create ?? ((opts: WinrmClientOptions) => createWinrmClient(opts));
  const entries = new Map<string, Entry>();
  let sweeper: NodeJS.Timeout | undefined;

  const drop = (key: string, e: Entry, force = false): void => {
    if (entries.get(key) === e) entries.delete(key);
    // Another job still uses this client: it must not see "the WinRM client is closed" mid-poll.
    if (e.busy > 0 && !force) {
      e.retired = true;
      return;
    }
    if (!e.closed) {
      e.closed = true;
      e.client.close();
    }
    if (entries.size === 0 && sweeper) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };
  const sweep = (): void => {
    const now = Date.now();
    for (const [key, e] of entries) if (e.busy === 0 && now - e.lastUsed >= idleMs) drop(key, e);
  };

  return {
    acquire(target, credential) {
      if (!credential)
        throw new ClassifiedError('auth', 'the job carries no credential for this WinRM target', {
          code: 'no_credential',
          retryable: false,
        });
      const secret = createHash('sha256').update(credential.password).digest('base64url');
      const key = [
        target.ip,
        target.port,
        target.use_ssl,
        credential.type,
        credential.domain ?? '',
        credential.username,
        secret,
        credential.tls_verify ?? '',
        credential.tls_fingerprint ?? '',
      ].join('|');
      let e = entries.get(key);
      if (!e) {
        let client: WinrmClient;
        try {
          client = create(winrmClientOptions(target, credential, o));
        } catch (err) {
          throw new ClassifiedError(
            'internal',
            `cannot build a WinRM client for this target: ${(err as Error).message}`,
            { retryable: false },
          );
        }
        e = { client, busy: 0, lastUsed: Date.now(), closed: false, retired: false };
        entries.set(key, e);
        if (!sweeper) {
          sweeper = setInterval(sweep, Math.max(1000, Math.min(idleMs, 60_000)));
          sweeper.unref();
        }
      }
      const entry = e;
      entry.busy++;
      let released = false;
      return {
        client: entry.client,
        release(broken = false) {
          if (released) return;
          released = true;
          entry.busy--;
          entry.lastUsed = Date.now();
          if (broken || entry.retired) drop(key, entry);
        },
      };
    },
    get size() {
      return entries.size;
    },
    close() {
      for (const [key, e] of entries) drop(key, e, true);
    },
  };
}
