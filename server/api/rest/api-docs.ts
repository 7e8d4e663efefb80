import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { sendJson } from './http-io.ts';

/**
 * GET /api/docs/: the API reference in the browser. Swagger UI from the installed swagger-ui-dist
 * package (no CDN: sites often have no internet), started by a page and a script of our own that
 * point it at /api/v1/openapi.json. Only the files listed here are served (no path is ever joined
 * from the request), under a Content-Security-Policy that allows this origin only.
 */
export const API_DOCS_PREFIX = '/api/docs';

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>NMSlite API reference</title>
<link rel="stylesheet" href="swagger-ui.css">
<link rel="stylesheet" href="api-docs.css">
<link rel="icon" type="image/png" href="favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="favicon-16x16.png" sizes="16x16">
</head>
<body>
<noscript>The API reference needs JavaScript; the OpenAPI document is at <a href="../v1/openapi.json">/api/v1/openapi.json</a>.</noscript>
<div id="swagger-ui"></div>
<script src="swagger-ui-bundle.js"></script>
<script src="api-docs.js"></script>
</body>
</html>
`;

// Relative to the page, so the reference also works behind a proxy that mounts the server under a prefix.
const INIT = `'use strict';
window.ui = SwaggerUIBundle({
  url: new URL('../v1/openapi.json', window.location.href).href,
  dom_id: '#swagger-ui',
  deepLinking: true,
  docExpansion: 'list',
  defaultModelsExpandDepth: 0,
  displayRequestDuration: true,
  filter: true,
  validatorUrl: null,
});
`;

const STYLE = 'body { margin: 0; }\n';

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';
const JSON_MAP = 'application/json; charset=utf-8';

/** Our own files, by name, and the package's files served as they are. Nothing else exists under /api/docs/. */
const OWN: Record<string, { type: string; text: string }> = {
  '': { type: 'text/html; charset=utf-8', text: PAGE },
  'api-docs.js': { type: JS, text: INIT },
  'api-docs.css': { type: CSS, text: STYLE },
};
const VENDOR: Record<string, string> = {
  'swagger-ui-bundle.js': JS,
  'swagger-ui-bundle.js.map': JSON_MAP,
  'swagger-ui.css': CSS,
  'swagger-ui.css.map': JSON_MAP,
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
  cache: string;
}

/** The policy of every answer under /api/docs/; `connectOrigin` is server.public_url's origin (Try it out). */
export function apiDocsCsp(connectOrigin?: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    // Swagger UI's stylesheet draws its icons as data: SVGs.
    "img-src 'self' data:",
    `connect-src 'self'${connectOrigin ? ` ${connectOrigin}` : ''}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

const asset = (body: Buffer, type: string, cache: string): Asset => ({
  body,
  type,
  cache,
  etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
});

export function createApiDocsHandler(o: { publicUrl?: string } = {}) {
  let origin: string | undefined;
  if (o.publicUrl) origin = new URL(o.publicUrl).origin;
  const csp = apiDocsCsp(origin);
  const cache = new Map<string, Asset>();
  for (const [name, f] of Object.entries(OWN)) cache.set(name, asset(Buffer.from(f.text, 'utf8'), f.type, 'no-cache'));
  let vendorDir: string | null | undefined;

  /** The package's files, read on first use and kept; null when swagger-ui-dist is not installed. */
  function vendor(name: string): Asset | null {
    const hit = cache.get(name);
    if (hit) return hit;
    if (vendorDir === undefined) {
      try {
        vendorDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
      } catch {
        vendorDir = null;
      }
    }
    if (vendorDir === null) return null;
    // Revalidated hourly: the same URL serves a newer Swagger UI after an upgrade.
    const a = asset(readFileSync(join(vendorDir, name)), VENDOR[name]!, 'public, max-age=3600');
    cache.set(name, a);
    return a;
  }

  return function handleApiDocs(req: IncomingMessage, res: ServerResponse, path: string): void {
    const pathname = path.split('?')[0]!;
    res.setHeader('content-security-policy', csp);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-frame-options', 'DENY');
    res.setHeader('cross-origin-opener-policy', 'same-origin');
    res.setHeader('cross-origin-resource-policy', 'same-origin');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return sendJson(res, 405, {
        error: { code: 'METHOD_NOT_ALLOWED', message: `${req.method} is not allowed here`, details: {} },
      });
    }
    if (pathname === API_DOCS_PREFIX) {
      // The page loads its files relative to /api/docs/.
      res.writeHead(308, { location: 'docs/', 'content-length': 0 }).end();
      return;
    }
    const name = pathname.slice(API_DOCS_PREFIX.length + 1);
    const known = Object.hasOwn(OWN, name) || Object.hasOwn(VENDOR, name);
    const a = known ? (cache.get(name) ?? vendor(name)) : undefined;
    if (a === null)
      return sendJson(res, 503, {
        error: {
          code: 'UNAVAILABLE',
          message: 'the API reference needs the swagger-ui-dist package (npm ci)',
          details: {},
        },
      });
    if (!a)
      return sendJson(res, 404, {
        error: {
          code: 'NOT_FOUND',
          message: `no file ${pathname}: the API reference is at ${API_DOCS_PREFIX}/`,
          details: {},
        },
      });
    const headers = { 'content-type': a.type, 'cache-control': a.cache, etag: a.etag };
    if (req.headers['if-none-match'] === a.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': a.body.length });
    res.end(req.method === 'HEAD' ? undefined : a.body);
  };
}
