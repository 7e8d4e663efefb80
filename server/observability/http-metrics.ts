import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpRecorder } from './prometheus.ts';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** The route label of a path no route matches (scanners' random URLs must not grow the label set). */
export const UNMATCHED_ROUTE = '(unmatched)';

interface Template {
  route: string;
  regex: RegExp;
  methods: Set<string>;
  params: number;
}

export interface RouteTable {
  /** REST templates as in the OpenAPI document, relative to `restBase`: `/agents/{id}` → methods. */
  restBase: string;
  rest: Record<string, Record<string, unknown>>;
  /** tRPC procedure paths (`agents.list`), served under /trpc/. */
  trpc: readonly string[];
  /** Other fixed paths the server answers (`/metrics`, `/api/v1/openapi.json`). */
  fixed: readonly string[];
  /** Trees served under one prefix (`/api/docs`, `/install`): every path in one is labelled by the prefix. */
  prefixes?: readonly string[];
}

/**
 * Maps a request to its route template, the label of the HTTP metrics: one of the server's own
 * routes, or UNMATCHED_ROUTE. The label set is therefore bounded by the routes in the code.
 */
export function createRouteResolver(t: RouteTable): (method: string, url: string) => string {
  const templates: Template[] = Object.entries(t.rest)
    .map(([path, ops]) => {
      const route = `${t.restBase}${path}`;
      const pattern = route.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '[^/]+');
      return {
        route,
        regex: new RegExp(`^${pattern}/?$`),
        methods: new Set(Object.keys(ops).map((m) => m.toUpperCase())),
        params: (path.match(/\{/g) ?? []).length,
      };
    })
    // A literal segment wins over a parameter (`/agents/enroll` before `/agents/{id}`).
    .sort((a, b) => a.params - b.params);
  const procedures = new Set(t.trpc);
  const fixed = new Set(t.fixed);
  return (method, url) => {
    const path = url.split('?')[0] ?? '';
    if (fixed.has(path)) return path;
    const prefix = t.prefixes?.find((p) => path === p || path.startsWith(`${p}/`));
    if (prefix !== undefined) return prefix;
    if (path.startsWith('/trpc/')) {
      const names = path.slice('/trpc/'.length).split(',');
      if (names.length > 1) return names.every((n) => procedures.has(n)) ? '/trpc/(batch)' : UNMATCHED_ROUTE;
      return procedures.has(names[0]!) ? path : UNMATCHED_ROUTE;
    }
    const matching = templates.filter((x) => x.regex.test(path));
    return (matching.find((x) => x.methods.has(method)) ?? matching[0])?.route ?? UNMATCHED_ROUTE;
  };
}

/** The method label: the standard ones, anything else as OTHER. */
export const methodLabel = (method: string | undefined): string => (method && METHODS.has(method) ? method : 'OTHER');

/** Records the request when its answer is finished (an aborted request is not counted). */
export function trackHttpRequest(
  recorder: HttpRecorder,
  routeOf: (method: string, url: string) => string,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const started = process.hrtime.bigint();
  res.once('finish', () => {
    const method = methodLabel(req.method);
    recorder.request(
      method,
      routeOf(method, req.url ?? '/'),
      res.statusCode,
      Number(process.hrtime.bigint() - started) / 1e9,
    );
  });
}
