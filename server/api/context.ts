import type { IncomingMessage } from 'node:http';
import type { Services } from '../services/index.ts';
import type { Log } from '../log.ts';

export interface ApiContext {
  services: Services;
  log: Log;
  ip: string;
  user: { username: string } | undefined;
  /** Set by a procedure that wants a header on its REST response (e.g. Retry-After). */
  responseHeaders: Record<string, string>;
  /**
   * Set by a router whose REST success status depends on what the service returned (202: still
   * running); otherwise the route's. An object, as procedures see a copy of the context.
   */
  reply: { status?: 200 | 201 | 202 | 204 };
}

export async function createApiContext(req: IncomingMessage, services: Services, log: Log): Promise<ApiContext> {
  const auth = req.headers.authorization;
  const bearer =
    typeof auth === 'string' && /^Bearer\s+/i.test(auth) ? auth.replace(/^Bearer\s+/i, '').trim() : undefined;
  const user = bearer ? await services.auth.verify(bearer) : undefined;
  return { services, log, ip: req.socket.remoteAddress ?? 'unknown', user, responseHeaders: {}, reply: {} };
}
