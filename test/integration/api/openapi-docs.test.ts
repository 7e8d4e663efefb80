import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { AnyTRPCProcedure } from '@trpc/server';
// Ajv is installed already (openapi-to-postmanv2 depends on it); the 2020-12 draft is what OpenAPI 3.1 uses.
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { appRouter } from '../../../server/api/router.ts';
import { buildOpenApiDocument } from '../../../server/api/rest/openapi.ts';
import { ERROR_SCHEMA, ERROR_SCHEMA_NAME } from '../../../server/api/rest/openapi-docs.ts';
import { OPERATION_DOCS } from '../../../server/api/rest/openapi-examples.ts';
import { SERVER_VERSION } from '../../../server/server.ts';
import { startTestServer, type TestServer } from '../../helpers/server.ts';

type Schema = Record<string, any>;
interface Op {
  method: string;
  path: string;
  op: Schema;
}

const doc = buildOpenApiDocument('/api/v1', SERVER_VERSION) as Schema;
const ops: Op[] = Object.entries(doc.paths as Record<string, Record<string, Schema>>).flatMap(([path, ms]) =>
  Object.entries(ms).map(([method, op]) => ({ method, path, op })),
);
const name = (o: Op) => `${o.method.toUpperCase()} ${o.path} (${o.op.operationId})`;
const successOf = (o: Op) => Object.keys(o.op.responses).filter((s) => /^2/.test(s));

const ajv = new Ajv2020({ strict: false, allErrors: true });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);
/** Components are referenced as #/components/schemas/X: inline them (they do not recurse). */
function deref(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(deref);
  if (!s || typeof s !== 'object') return s;
  const ref = (s as Schema).$ref;
  if (typeof ref === 'string') return deref(doc.components.schemas[ref.replace('#/components/schemas/', '')]);
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, deref(v)]));
}
function validate(schema: unknown, value: unknown, what: string): void {
  const check = ajv.compile(deref(schema) as Schema);
  assert.ok(check(value), `${what}: the example does not match its schema: ${ajv.errorsText(check.errors)}`);
}

/** The procedure behind each operation, by "method path", to check examples with its own zod schemas. */
const procedures = new Map<string, AnyTRPCProcedure>();
for (const proc of Object.values(
  (appRouter._def as unknown as { procedures: Record<string, AnyTRPCProcedure> }).procedures,
)) {
  const m = (proc._def as { meta?: { openapi?: { method: string; path: string } } }).meta?.openapi;
  if (m) procedures.set(`${m.method.toLowerCase()} ${m.path}`, proc);
}
/** Public by the router's own word (`protect: false`); the live test below checks that word against the server. */
const isPublic = (o: Op) =>
  (procedures.get(`${o.method} ${o.path}`)?._def as { meta?: { openapi?: { protect?: boolean } } } | undefined)?.meta
    ?.openapi?.protect === false;

describe('the OpenAPI document', () => {
  test('has operations to check', () => assert.ok(ops.length >= 40, `only ${ops.length} operations`));

  test('every operation has a summary (the name Swagger UI and Postman show)', () => {
    const missing = ops.filter((o) => !(o.op.summary?.trim().length > 10)).map(name);
    assert.deepEqual(missing, []);
  });

  test('exactly login, health and enrollment are public', () => {
    assert.deepEqual(ops.filter(isPublic).map(name).sort(), [
      'GET /health (health-get)',
      'POST /agents/enroll (agents-enroll)',
      'POST /auth/login (auth-login)',
    ]);
  });

  test('every operation has a handwritten description', () => {
    const missing = ops.filter((o) => !OPERATION_DOCS[o.op.operationId] || !(o.op.description?.trim().length > 20));
    assert.deepEqual(missing.map(name), [], 'add them to server/api/rest/openapi-examples.ts');
    const unused = Object.keys(OPERATION_DOCS).filter((id) => !ops.some((o) => o.op.operationId === id));
    assert.deepEqual(unused, [], 'entries in openapi-examples.ts for operations that no longer exist');
  });

  test('every operation has examples: its body, its path parameters and its success response', () => {
    for (const o of ops) {
      const body = o.op.requestBody?.content?.['application/json'];
      if (body) assert.ok(body.example !== undefined, `${name(o)}: no request example`);
      for (const p of o.op.parameters ?? [])
        if (p.in === 'path') assert.ok(p.example !== undefined, `${name(o)}: no example for ${p.name}`);
      const success = successOf(o);
      assert.ok(success.length >= 1, `${name(o)}: no success response`);
      for (const s of success) {
        if (s === '204') {
          assert.equal(o.op.responses[s].content, undefined, `${name(o)}: 204 with content`);
          continue;
        }
        assert.ok(o.op.responses[s].content['application/json'].example !== undefined, `${name(o)}: no ${s} example`);
      }
      const hasExample =
        body || (o.op.parameters ?? []).some((p: Schema) => p.example !== undefined) || success[0] !== '204';
      assert.ok(hasExample, `${name(o)}: no example at all`);
      const handwritten = OPERATION_DOCS[o.op.operationId];
      assert.ok(handwritten, `${name(o)}: examples derived from the schema only`);
      if (success[0] !== '204') assert.ok(handwritten.response !== undefined, `${name(o)}: no handwritten response`);
      if (body && o.op.requestBody.required) assert.ok(handwritten.request, `${name(o)}: no handwritten request`);
    }
  });

  test('every example validates against its own JSON schema', () => {
    for (const o of ops) {
      const body = o.op.requestBody?.content?.['application/json'];
      if (body) validate(body.schema, body.example, `${name(o)} request`);
      for (const p of o.op.parameters ?? [])
        if (p.example !== undefined) validate(p.schema, p.example, `${name(o)} parameter ${p.name}`);
      for (const [s, r] of Object.entries(o.op.responses as Record<string, Schema>)) {
        const media = r.content?.['application/json'];
        if (media) validate(media.schema, media.example, `${name(o)} ${s}`);
      }
    }
  });

  test("every request example passes the procedure's own zod input schema (refinements included)", () => {
    for (const o of ops) {
      const proc = procedures.get(`${o.method} ${o.path}`);
      assert.ok(proc, `${name(o)}: no procedure`);
      const input: Record<string, unknown> = { ...(o.op.requestBody?.content?.['application/json']?.example ?? {}) };
      for (const p of o.op.parameters ?? []) if (p.example !== undefined) input[p.name] = p.example;
      for (const parser of (proc!._def as unknown as { inputs: { safeParse(v: unknown): any }[] }).inputs) {
        const r = parser.safeParse(input);
        assert.ok(r.success, `${name(o)}: ${JSON.stringify(input)}: ${r.error?.message}`);
      }
      const output = (proc!._def as unknown as { output?: { safeParse(v: unknown): any } }).output;
      const example = o.op.responses[successOf(o)[0]!].content?.['application/json']?.example;
      if (output && example !== undefined) {
        const r = output.safeParse(example);
        assert.ok(r.success, `${name(o)}: response example: ${r.error?.message}`);
      }
    }
  });

  test('the error responses of every operation reference the one Error schema', () => {
    assert.deepEqual(doc.components.schemas[ERROR_SCHEMA_NAME], ERROR_SCHEMA);
    const foreign = Object.keys(doc.components.schemas).filter((k) => k.startsWith('error.'));
    assert.deepEqual(foreign, [], "trpc-to-openapi's own error schemas left in the document");
    for (const o of ops) {
      const expected = ['400', '500'];
      if (!isPublic(o)) expected.push('401');
      if (o.path.includes('{')) expected.push('404');
      for (const s of expected) assert.ok(o.op.responses[s], `${name(o)}: no ${s} response`);
      for (const [s, r] of Object.entries(o.op.responses as Record<string, Schema>)) {
        if (/^2/.test(s)) continue;
        assert.ok(['400', '401', '403', '404', '409', '429', '500', '503'].includes(s), `${name(o)}: odd status ${s}`);
        assert.deepEqual(r.content['application/json'].schema, { $ref: `#/components/schemas/${ERROR_SCHEMA_NAME}` });
        assert.ok(r.description.length > 5, `${name(o)} ${s}: no description`);
      }
      assert.deepEqual(o.op.security, isPublic(o) ? [] : [{ bearerAuth: [] }], `${name(o)}: security`);
    }
  });
});

/** GET with the path sent as written (https.request with a URL would resolve ../ first). */
function rawRequest(
  s: TestServer,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: s.port, method, path, headers, rejectUnauthorized: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('against a live server', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s?.stop());

  test('the served document is the documented one', async () => {
    const r = await s.api('GET', '/api/v1/openapi.json', undefined, null);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, JSON.parse(JSON.stringify(doc)));
  });

  test('without a token every protected operation answers 401 in the documented Error shape; public ones do not', async () => {
    for (const o of ops) {
      const path = o.path.replace(/\{(\w+)\}/g, (_m, p: string) =>
        String(o.op.parameters.find((x: Schema) => x.name === p).example),
      );
      const body = o.op.requestBody ? {} : undefined;
      const r = await s.api(o.method.toUpperCase(), `/api/v1${path}`, body, null);
      if (o.op.security.length === 0) assert.notEqual(r.status, 401, `${name(o)} is documented public`);
      else {
        assert.equal(r.status, 401, `${name(o)}: ${JSON.stringify(r.body)}`);
        validate(o.op.responses['401'].content['application/json'].schema, r.body, `${name(o)} real 401`);
      }
    }
  });

  test('a malformed path parameter is a 400 and a missing entity a 404, both in the documented Error shape', async () => {
    for (const o of ops.filter((x) => x.path.includes('{'))) {
      const bad = o.path.replace(/\{\w+\}/g, 'not-an-id');
      const body = o.op.requestBody ? {} : undefined;
      const r400 = await s.api(o.method.toUpperCase(), `/api/v1${bad}`, body);
      assert.equal(r400.status, 400, `${name(o)}: ${JSON.stringify(r400.body)}`);
      validate(o.op.responses['400'].content['application/json'].schema, r400.body, `${name(o)} real 400`);
      assert.ok(r400.body.error.details.field, `${name(o)}: the 400 names no field`);
      if (o.path.endsWith('/metrics/history')) continue; // `from` is required: a 400 before the lookup
      const missing = o.path.replace(/\{(\w+)\}/g, (_m, p: string) =>
        p === 'run_id' ? '7d0c8a4e-1f2b-4c3d-9e8f-0a1b2c3d4e5f' : '2147483647',
      );
      const r404 = await s.api(o.method.toUpperCase(), `/api/v1${missing}`, body);
      assert.equal(r404.status, 404, `${name(o)}: ${JSON.stringify(r404.body)}`);
      validate(o.op.responses['404'].content['application/json'].schema, r404.body, `${name(o)} real 404`);
    }
  });

  test('the documented success status is the one sent: 201 on create, 204 on delete', async () => {
    const create = ops.find((o) => o.op.operationId === 'agents-create')!;
    const del = ops.find((o) => o.op.operationId === 'agents-delete')!;
    assert.deepEqual(successOf(create), ['201']);
    assert.deepEqual(successOf(del), ['204']);
    const r = await s.api('POST', '/api/v1/agents', { name: 'openapi-docs-test' });
    assert.equal(r.status, 201);
    validate(create.op.responses['201'].content['application/json'].schema, r.body, 'real 201');
    const d = await s.api('DELETE', `/api/v1/agents/${r.body.agent.id}`);
    assert.equal(d.status, 204);
  });
});

describe('GET /api/docs', () => {
  let s: TestServer;
  const dist = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  before(async () => {
    s = await startTestServer();
  });
  after(() => s?.stop());

  test('redirects to /api/docs/, whose page loads only our own files under a self-only policy', async () => {
    const r = await rawRequest(s, 'GET', '/api/docs');
    assert.equal(r.status, 308);
    assert.equal(r.headers.location, 'docs/');
    const page = await rawRequest(s, 'GET', '/api/docs/');
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /style-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    const html = page.body.toString('utf8');
    assert.doesNotMatch(html, /https?:\/\//, 'the page refers to another site');
    assert.doesNotMatch(html, /<script>|<script [^>]*>[^<\s]/, 'an inline script');
    for (const src of html.matchAll(/(?:src|href)="([^"]+)"/g)) {
      if (src[1]!.startsWith('../v1/')) continue;
      const f = await rawRequest(s, 'GET', `/api/docs/${src[1]}`);
      assert.equal(f.status, 200, `${src[1]}: ${f.status}`);
    }
    const init = await rawRequest(s, 'GET', '/api/docs/api-docs.js');
    assert.equal(init.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.match(init.body.toString('utf8'), /'\.\.\/v1\/openapi\.json'/);
    assert.match(
      init.body.toString('utf8'),
      /validatorUrl: null/,
      'Swagger UI would send the document to validator.swagger.io',
    );
  });

  test('serves Swagger UI from the installed package with its content type and cache headers', async () => {
    const js = await rawRequest(s, 'GET', '/api/docs/swagger-ui-bundle.js');
    assert.equal(js.status, 200);
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.ok(js.body.equals(readFileSync(join(dist, 'swagger-ui-bundle.js'))));
    assert.equal(js.headers['cache-control'], 'public, max-age=3600');
    const etag = String(js.headers.etag);
    const again = await rawRequest(s, 'GET', '/api/docs/swagger-ui-bundle.js', { 'if-none-match': etag });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    const css = await rawRequest(s, 'GET', '/api/docs/swagger-ui.css?v=1');
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    const png = await rawRequest(s, 'HEAD', '/api/docs/favicon-32x32.png');
    assert.equal(png.status, 200);
    assert.equal(png.headers['content-type'], 'image/png');
    assert.equal(png.body.length, 0);
    assert.equal(Number(png.headers['content-length']), readFileSync(join(dist, 'favicon-32x32.png')).length);
    const page = await rawRequest(s, 'GET', '/api/docs/');
    assert.equal(page.headers['cache-control'], 'no-cache');
  });

  test('serves nothing outside its fixed list: no traversal, no other package file, no other method', async () => {
    for (const p of [
      '/api/docs/../../package.json',
      '/api/docs/..%2f..%2fpackage.json',
      '/api/docs/%2e%2e/%2e%2e/package.json',
      '/api/docs//etc/passwd',
      '/api/docs/index.html',
      '/api/docs/swagger-initializer.js',
      '/api/docs/package.json',
      '/api/docs/swagger-ui-bundle.js/',
      '/api/docs/constructor',
      '/api/docs/__proto__',
    ]) {
      const r = await rawRequest(s, 'GET', p);
      assert.equal(r.status, 404, `${p}: ${r.status}`);
      assert.equal(JSON.parse(r.body.toString('utf8')).error.code, 'NOT_FOUND');
    }
    const post = await rawRequest(s, 'POST', '/api/docs/');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  });

  test('with server.public_url on another origin, Try it out may call it', async () => {
    const other = await startTestServer({
      server: { host: '127.0.0.1', port: 0, public_url: 'https://nms.example.org:8443/' },
    });
    try {
      const page = await rawRequest(other, 'GET', '/api/docs/');
      assert.match(
        String(page.headers['content-security-policy']),
        /connect-src 'self' https:\/\/nms\.example\.org:8443(;|$)/,
      );
    } finally {
      await other.stop();
    }
  });
});
