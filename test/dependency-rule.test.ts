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

test('the rule checker itself catches a cross import', () => {
  assert.equal(landsIn(join(root, 'agent', 'x.ts'), '../server/db/client.ts'), 'server');
  assert.deepEqual(imports(join(root, 'server', 'main.ts')).filter((s) => s.startsWith('.')).length > 0, true);
});
