import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { ProxySettings } from '../config.ts';
import { connectThroughProxy, proxyFor } from './proxy.ts';
import { PinMismatchError, peerFingerprint } from './pinned-tls.ts';

export interface HttpsJsonAnswer {
  status: number;
  body: unknown;
  fingerprint: string;
}

/**
 * POSTs JSON over HTTPS to a server whose certificate is checked by SHA-256 pin rather than a CA
 * (NMSlite servers usually run a self-signed certificate). Without `pin` the presented fingerprint
 * is returned for trust on first use.
 */
export function postJson(
  url: URL,
  payload: unknown,
  o: { pin?: string; proxy: ProxySettings; timeoutMs?: number },
): Promise<HttpsJsonAnswer> {
  const timeoutMs = o.timeoutMs ?? 15_000;
  const proxy = proxyFor(url, o.proxy);
  const body = Buffer.from(JSON.stringify(payload));
  return new Promise((resolve, reject) => {
    const req = request({
      host: url.hostname,
      port: Number(url.port || 443),
      path: url.pathname,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': body.length },
      rejectUnauthorized: false,
      timeout: timeoutMs,
      // A fresh connection every time (through the proxy's tunnel, or `agent: false`): its
      // certificate is checked, and the pin enforced, before the body goes out; a pooled socket
      // would have no handshake to wait for.
      ...(proxy
        ? {
            createConnection: (_opts: unknown, cb: (err: Error | null, s?: TLSSocket) => void) => {
              connectThroughProxy(proxy, url.hostname, Number(url.port || 443), timeoutMs).then(
                (s) => cb(null, s),
                (e: Error) => cb(e),
              );
              return undefined;
            },
          }
        : { agent: false }),
    } as unknown as Parameters<typeof request>[0]);
    let fingerprint = '';
    // The body (an enrollment token) is written only once the certificate is checked against the pin.
    req.once('socket', (socket) => {
      const check = (): void => {
        fingerprint = peerFingerprint(socket as TLSSocket) ?? '';
        if (o.pin && fingerprint !== o.pin) req.destroy(new PinMismatchError(o.pin, fingerprint));
        else req.end(body);
      };
      if ((socket as TLSSocket).encrypted && (socket as TLSSocket).getPeerCertificate?.()?.raw) check();
      else socket.once('secureConnect', check);
    });
    req.once('timeout', () => req.destroy(new Error(`the server did not answer within ${timeoutMs} ms`)));
    req.once('error', (e) =>
      reject(e instanceof PinMismatchError ? e : new Error(`cannot reach ${url.host}: ${e.message}`)),
    );
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, fingerprint });
      });
    });
  });
}
