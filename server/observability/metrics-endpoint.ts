import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerMetrics } from './prometheus.ts';

export const METRICS_PATH = '/metrics';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** `Authorization: Bearer <t>` compared in constant time (hashes of equal length, whatever was sent). */
function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return timingSafeEqual(digest(m?.[1] ?? ''), expected) && m !== null;
}

const sendError = (res: ServerResponse, status: number, code: string, message: string, headers = {}): void => {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify({ error: { code, message, details: {} } }));
};

/**
 * GET /metrics for Prometheus. With a token, the scrape must carry exactly it as a bearer token;
 * the admin JWT is neither needed nor accepted (a scraper cannot log in). The token is never
 * echoed, logged or put in an error.
 */
export function createMetricsEndpoint(o: {
  metrics: ServerMetrics;
  token: string | undefined;
  log: { error(o: object, msg: string): void };
}) {
  const expected = o.token === undefined ? undefined : digest(o.token);
  return async function serveMetrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return sendError(res, 405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed here`, { allow: 'GET, HEAD' });
    if (expected && !bearerMatches(req.headers.authorization, expected))
      return sendError(res, 401, 'UNAUTHORIZED', 'metrics need the metrics bearer token (not an admin token)', {
        'www-authenticate': 'Bearer realm="metrics"',
      });
    let out: { contentType: string; body: string };
    try {
      out = await o.metrics.render();
    } catch (err) {
      o.log.error({ err: (err as Error).message }, 'rendering metrics failed');
      return sendError(res, 500, 'INTERNAL', 'internal error');
    }
    res.writeHead(200, { 'content-type': out.contentType, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : out.body);
  };
}
