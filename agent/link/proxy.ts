import { request as httpRequest } from 'node:http';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { isIP, type Socket } from 'node:net';

/** Proxy URL for a target, from HTTPS_PROXY / https_proxy, unless NO_PROXY matches the host. */
export function proxyFor(host: string, env: Record<string, string | undefined>): URL | undefined {
  const raw = env.HTTPS_PROXY ?? env.https_proxy;
  if (!raw) return undefined;
  const noProxy = (env.NO_PROXY ?? env.no_proxy ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (noProxy.some((n) => n === '*' || host === n || host.endsWith(n.startsWith('.') ? n : `.${n}`))) return undefined;
  return new URL(raw.includes('://') ? raw : `http://${raw}`);
}

/** Opens a TLS connection to host:port through an HTTP CONNECT proxy. */
export function connectThroughProxy(proxy: URL, host: string, port: number, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Host: `${host}:${port}` };
    if (proxy.username) {
      headers['Proxy-Authorization'] =
        `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`;
    }
    const req = httpRequest({
      host: proxy.hostname,
      port: Number(proxy.port || 80),
      method: 'CONNECT',
      path: `${host}:${port}`,
      headers,
      timeout: timeoutMs,
    });
    req.once('connect', (res, socket: Socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new Error(`the proxy refused CONNECT to ${host}:${port} (HTTP ${res.statusCode})`));
        return;
      }
      // SNI carries host names only (RFC 6066); an IP address is left out.
      resolve(tlsConnect({ socket, ...(isIP(host) ? {} : { servername: host }), rejectUnauthorized: false }));
    });
    req.once('timeout', () => req.destroy(new Error('the proxy did not answer CONNECT in time')));
    req.once('error', (e) => reject(new Error(`cannot reach the proxy ${proxy.host}: ${e.message}`)));
    req.end();
  });
}
