import { request as httpRequest } from 'node:http';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { isIP, type Socket } from 'node:net';
import { getProxyForUrl } from 'proxy-from-env';
import type { ProxySettings } from '../config.ts';

/** No proxy: every connection goes direct. */
export const DIRECT: ProxySettings = Object.freeze({ no_proxy: '' });

/** The variables proxy-from-env reads; they are set from the parsed settings for the one call below. */
const LIBRARY_VARIABLES = ['https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY', 'all_proxy', 'ALL_PROXY'] as const;

/**
 * The proxy for an HTTPS (or WSS) connection to `target`, or undefined to connect directly.
 * NO_PROXY is matched by proxy-from-env, given curl's rules (curlEntries): `*` is every host;
 * `example.com` and `.example.com` that host and its subdomains; `*.example.com` its subdomains;
 * `host:port` only that port (443 when the URL has none). The library reads process.env, so for
 * this synchronous call it sees exactly the settings parsed in config.ts and nothing else.
 */
export function proxyFor(target: URL, settings: ProxySettings): URL | undefined {
  if (!settings.https_proxy) return undefined;
  const saved = LIBRARY_VARIABLES.map((k) => [k, process.env[k]] as const);
  let chosen: string;
  try {
    for (const k of LIBRARY_VARIABLES) delete process.env[k];
    process.env.https_proxy = settings.https_proxy;
    if (settings.no_proxy) process.env.no_proxy = curlEntries(settings.no_proxy);
    chosen = getProxyForUrl({ protocol: 'https:', host: target.host, port: target.port });
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  return chosen ? new URL(chosen) : undefined;
}

/**
 * curl matches a plain NO_PROXY name as the host itself and as a domain of its subdomains, and a
 * leading dot the same way; proxy-from-env matches `example.com` only exactly and `.example.com`
 * only below it. Each such entry is given to the library in both forms.
 */
export function curlEntries(noProxy: string): string {
  const out: string[] = [];
  for (const raw of noProxy.split(/[,\s]+/)) {
    if (!raw) continue;
    out.push(raw);
    if (raw === '*' || raw.startsWith('*.')) continue;
    out.push(raw.startsWith('.') ? raw.slice(1) : `.${raw}`);
  }
  return out.join(',');
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
