import { Agent, request } from 'node:https';
import { createTRPCClient, httpLink, type TRPCClient } from '@trpc/client';
import type { AppRouter } from './router.ts';

export interface AdminClientOptions {
  /** https://host:8443 */
  url: string;
  username: string;
  password: string;
  /** Accept the server's certificate when its SHA-256 fingerprint matches (hex, colons allowed). */
  fingerprint?: string;
  /** Accept any certificate (a self-signed development server). */
  insecure?: boolean;
}

/** fetch over node:https so a self-signed server can be trusted by fingerprint or explicitly. */
function makeFetch(o: AdminClientOptions): typeof fetch {
  const pin = o.fingerprint?.replace(/[^0-9a-f]/gi, '').toLowerCase();
  const agent = new Agent({ keepAlive: true, rejectUnauthorized: !(o.insecure || pin) });
  return ((input: string | URL | Request, init?: RequestInit) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
      const headers: Record<string, string> = {};
      new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
      const req = request(url, { method: init?.method ?? 'GET', headers, agent }, (res) => {
        if (pin) {
          const cert = (res.socket as import('node:tls').TLSSocket).getPeerCertificate?.();
          const fp = cert?.fingerprint256?.replace(/:/g, '').toLowerCase();
          if (fp !== pin) {
            res.destroy();
            return reject(new Error(`server certificate fingerprint ${fp ?? 'unknown'} does not match the pinned one`));
          }
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
          resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 500, headers: h }));
        });
      });
      req.on('error', reject);
      req.end(init?.body as string | undefined);
    })) as typeof fetch;
}

/** Logs in and returns a fully typed tRPC client: `client.monitors.list.query({})`. */
export async function createAdminClient(o: AdminClientOptions): Promise<TRPCClient<AppRouter>> {
  const f = makeFetch(o);
  const login = await f(`${o.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: o.username, password: o.password }),
  });
  const body = (await login.json()) as { token?: string; error?: { message: string } };
  if (!login.ok || !body.token) throw new Error(`login failed: ${body.error?.message ?? login.status}`);
  const token = body.token;
  return createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${o.url}/trpc`, fetch: f, headers: () => ({ authorization: `Bearer ${token}` }) })],
  });
}
