import { spawn } from 'node:child_process';
import ping from 'ping';
import { mapLimit } from './map-limit.ts';
import { defaultPingMethod, findExecutable, type PingMethod } from './ping-method.ts';

export { defaultPingMethod, findExecutable, type PingMethod };

export interface SweepOptions {
  /** How long to wait for an echo reply per host. */
  timeoutMs?: number;
  /** Parallel `ping` processes when fping is missing. */
  concurrency?: number;
  signal?: AbortSignal;
  /** Force a method (tests); default: fping when installed, else ping. */
  method?: PingMethod;
}

export interface SweepResult {
  alive: Set<string>;
  method: PingMethod;
}

/** `fping -a` prints one answering address per line; anything else (ICMP errors, warnings) is ignored. */
export function parseFpingOutput(stdout: string): Set<string> {
  const alive = new Set<string>();
  for (const line of stdout.split('\n')) {
    const ip = line.trim();
    if (/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip)) alive.add(ip);
  }
  return alive;
}

function sweepWithFping(
  path: string,
  ips: string[],
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<Set<string>> {
  return new Promise((resolve, reject) => {
    // -a alive only, -q no per-probe lines, -r 0 one try, -t per-host timeout, -i 1 ms between packets, targets on stdin.
    const child = spawn(
      path,
      ['-a', '-q', '-r', '0', '-t', String(Math.max(10, Math.round(timeoutMs))), '-i', '1', '-f', '-'],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    const onAbort = (): void => {
      child.kill('SIGKILL');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err.length < 2000 ? (err += c) : undefined));
    child.stdin.on('error', () => undefined);
    child.stdin.end(`${ips.join('\n')}\n`);
    child.on('error', (e) => {
      signal?.removeEventListener('abort', onAbort);
      reject(e);
    });
    child.on('close', (code) => {
      signal?.removeEventListener('abort', onAbort);
      // fping exits 1 when some hosts are unreachable and 2 when a name did not resolve: both normal here.
      if (code !== null && code > 2 && out.trim() === '')
        reject(new Error(`fping failed (exit ${code}): ${err.trim().slice(0, 200)}`));
      else resolve(parseFpingOutput(out));
    });
  });
}

async function sweepWithPing(
  ips: string[],
  timeoutMs: number,
  concurrency: number,
  signal: AbortSignal | undefined,
): Promise<Set<string>> {
  const alive = new Set<string>();
  const timeout = Math.max(1, Math.ceil(timeoutMs / 1000));
  await mapLimit(
    ips,
    concurrency,
    async (ip) => {
      try {
        const r = await ping.promise.probe(ip, { timeout, min_reply: 1 });
        if (r.alive) alive.add(ip);
      } catch {
        /* no answer */
      }
    },
    signal,
  );
  return alive;
}

/**
 * Which of `ips` answer an ICMP echo. fping sends to the whole batch from one process (tens
 * of ms for a /24); the `ping` package runs one process per host. With neither installed the
 * method is 'none' and nothing is reported alive: the caller decides to port-scan instead.
 */
export async function sweep(ips: string[], o: SweepOptions = {}): Promise<SweepResult> {
  const method = o.method ?? defaultPingMethod();
  const timeoutMs = o.timeoutMs ?? 500;
  if (ips.length === 0 || o.signal?.aborted) return { alive: new Set(), method };
  if (method === 'fping') {
    const path = findExecutable('fping');
    if (path) {
      try {
        return { alive: await sweepWithFping(path, ips, timeoutMs, o.signal), method };
      } catch {
        // fping present but unusable (e.g. no raw-socket permission): fall back to ping.
      }
    }
    return { alive: await sweepWithPing(ips, timeoutMs, o.concurrency ?? 64, o.signal), method: 'ping' };
  }
  if (method === 'ping') return { alive: await sweepWithPing(ips, timeoutMs, o.concurrency ?? 64, o.signal), method };
  return { alive: new Set(), method: 'none' };
}

/** The runner's ping-before-poll: one sweep per batch of due hosts. */
export async function pingHosts(ips: string[], timeoutMs = 1000): Promise<Set<string>> {
  const r = await sweep(ips, { timeoutMs });
  // Without any ping tool, do not fail every poll with `ping`: let the collectors find out.
  return r.method === 'none' ? new Set(ips) : r.alive;
}
