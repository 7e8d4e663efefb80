import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Server as NetServer, Socket } from 'node:net';

/**
 * Connection limits of the HTTPS port (issue 13 finding 2: ~21,000 idle TCP sockets took the
 * server to its file-descriptor limit; /health failed and the database pool hit EMFILE).
 *
 * - a total cap (net.Server maxConnections), never more than the process's fd limit minus the
 *   database pool and a reserve for files, logs and the pool's reconnects;
 * - a per-source-address cap, counted at 'connection' (before TLS), well below the total, so one
 *   address cannot take the port from everyone else (agents reconnecting, the UI, /health).
 * The short TLS-handshake and header timeouts (set where the server is created) then free the
 * slots of sockets that never finish a handshake or a request head.
 */

/** Descriptors kept out of the connection cap for everything else the process opens. */
export const FD_RESERVE = 256;

/** The soft RLIMIT_NOFILE: /proc/self/limits on Linux, else `ulimit -n`; undefined when unknown or unlimited. */
export function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) return m[1] === 'unlimited' ? undefined : Number(m[1]);
  } catch {
    /* not Linux */
  }
  try {
    const out = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8', timeout: 2000 }).trim();
    return /^\d+$/.test(out) ? Number(out) : undefined;
  } catch {
    return undefined;
  }
}

export interface ConnectionCaps {
  total: number;
  perAddress: number;
  fdLimit: number | undefined;
  /** True when the fd limit lowered the configured total. */
  loweredByFdLimit: boolean;
}

/** The caps actually applied: the configured total, lowered to fit under the fd limit. */
export function chooseConnectionCaps(o: {
  maxConnections: number;
  perAddress: number;
  poolMax: number;
  fdLimit: number | undefined;
}): ConnectionCaps {
  const room = o.fdLimit === undefined ? Infinity : Math.max(16, o.fdLimit - o.poolMax - FD_RESERVE);
  const total = Math.min(o.maxConnections, room);
  return {
    total,
    perAddress: Math.min(o.perAddress, total),
    fdLimit: o.fdLimit,
    loweredByFdLimit: total < o.maxConnections,
  };
}

export interface ConnectionLimiter {
  /** Connections refused so far because their address was at its cap. */
  refusedPerAddress(): number;
  /** Open connections per source address (tests). */
  open(address: string): number;
}

/** Applies both caps to a listening (or about to listen) server. */
export function limitConnections(
  server: NetServer,
  caps: Pick<ConnectionCaps, 'total' | 'perAddress'>,
  onRefused?: (address: string, open: number) => void,
): ConnectionLimiter {
  server.maxConnections = caps.total;
  const perAddress = new Map<string, number>();
  let refused = 0;
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '?';
    const n = perAddress.get(address) ?? 0;
    if (n >= caps.perAddress) {
      refused++;
      onRefused?.(address, n);
      socket.destroy();
      return;
    }
    perAddress.set(address, n + 1);
    socket.once('close', () => {
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left <= 0) perAddress.delete(address);
      else perAddress.set(address, left);
    });
  });
  return { refusedPerAddress: () => refused, open: (a) => perAddress.get(a) ?? 0 };
}
