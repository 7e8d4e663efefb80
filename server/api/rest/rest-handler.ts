import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AnyTRPCProcedure } from '@trpc/server';
import type { Log } from '../../log.ts';
import type { ApiContext } from '../context.ts';
import { appRouter } from '../router.ts';
import { createCallerFactory, toErrorBody, type ApiMeta } from '../trpc.ts';
import { readJsonBody, sendJson } from './http-io.ts';

interface Route {
  method: string;
  regex: RegExp;
  params: string[];
  key: string;
  status: number;
}

/** REST routes come from the same procedures as tRPC, by their `meta.openapi` path and method. */
function buildRoutes(): Route[] {
  const procedures = (appRouter._def as unknown as { procedures: Record<string, AnyTRPCProcedure> }).procedures;
  const routes: Route[] = [];
  for (const [key, proc] of Object.entries(procedures)) {
    const meta = (proc._def as { meta?: ApiMeta }).meta;
    if (!meta?.openapi) continue;
    const params: string[] = [];
    const pattern = meta.openapi.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
      params.push(name);
      return '([^/]+)';
    });
    routes.push({
      method: meta.openapi.method,
      regex: new RegExp(`^${pattern}/?$`),
      params,
      key,
      status: meta.status ?? 200,
    });
  }
  return routes;
}

const createCaller = createCallerFactory(appRouter);

export function createRestHandler(o: { bodyLimitBytes: number; jsonMaxDepth: number }) {
  const routes = buildRoutes();
  return async function handleRest(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    ctx: ApiContext,
    log: Log,
  ): Promise<void> {
    let url: URL;
    try {
      url = new URL(path, 'http://x');
    } catch {
      return sendJson(res, 400, {
        error: {
          code: 'VALIDATION_ERROR',
          message: '(path): malformed URL',
          details: { field: '(path)', reason: 'malformed URL' },
        },
      });
    }
    const candidates = routes.filter((r) => r.regex.test(url.pathname));
    const route = candidates.find((r) => r.method === req.method);
    if (!route) {
      if (candidates.length) {
        res.setHeader('allow', candidates.map((r) => r.method).join(', '));
        return sendJson(res, 405, {
          error: { code: 'METHOD_NOT_ALLOWED', message: `${req.method} is not allowed here`, details: {} },
        });
      }
      return sendJson(res, 404, {
        error: { code: 'NOT_FOUND', message: `no endpoint ${req.method} /api/v1${url.pathname}`, details: {} },
      });
    }
    try {
      let input: Record<string, unknown> = {};
      if (req.method === 'POST' || req.method === 'PUT') {
        const body = await readJsonBody(req, o.bodyLimitBytes, o.jsonMaxDepth);
        if (body !== undefined) {
          if (typeof body !== 'object' || body === null || Array.isArray(body)) {
            return sendJson(res, 400, {
              error: {
                code: 'VALIDATION_ERROR',
                message: 'the request body must be a JSON object',
                details: { field: '(body)' },
              },
            });
          }
          input = body as Record<string, unknown>;
        }
      } else {
        for (const [k, v] of url.searchParams) input[k] = v;
      }
      const m = route.regex.exec(url.pathname)!;
      for (const [i, p] of route.params.entries()) {
        try {
          input[p] = decodeURIComponent(m[i + 1]!);
        } catch {
          return sendJson(res, 400, {
            error: {
              code: 'VALIDATION_ERROR',
              message: `${p}: malformed percent-encoding`,
              details: { field: p, reason: 'malformed percent-encoding' },
            },
          });
        }
      }
      let target: unknown = createCaller(ctx);
      for (const part of route.key.split('.')) target = (target as Record<string, unknown>)[part];
      const result = await (target as (i: unknown) => Promise<unknown>)(input);
      const status = ctx.reply.status ?? route.status;
      if (status === 204) {
        res.writeHead(204).end();
        return;
      }
      sendJson(res, status, result ?? null);
    } catch (err) {
      const body = toErrorBody(err);
      if (body.status >= 500) log.error({ err }, 'request failed');
      if (body.status === 429 && typeof body.error.details.retry_after === 'number')
        res.setHeader('retry-after', String(body.error.details.retry_after));
      if (body.status === 401) res.setHeader('www-authenticate', 'Bearer');
      sendJson(res, body.status, { error: body.error });
    }
  };
}
