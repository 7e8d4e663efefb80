import { connect } from 'node:net';

/** RPC endpoint mapper (DCOM/WMI), WinRM over HTTP, WinRM over HTTPS. */
export const WINDOWS_PORTS = [135, 5985, 5986] as const;

/** True when a TCP connection to ip:port completes within timeoutMs. */
function probePort(ip: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const socket = connect({ host: ip, port });
    let done = false;
    const finish = (open: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(open);
    };
    const onAbort = (): void => finish(false);
    const timer = setTimeout(() => finish(false), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/** Open ports of one host, probed in parallel, in the order given. */
export async function probeHost(
  ip: string,
  ports: readonly number[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<number[]> {
  const open = await Promise.all(ports.map((p) => probePort(ip, p, timeoutMs, signal)));
  return ports.filter((_, i) => open[i]);
}
