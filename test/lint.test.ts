import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const root = fileURLToPath(new URL('..', import.meta.url));

// The formatter and linter (Biome, configured in biome.json) are part of the build: `npm run lint:fix`
// formats and applies the safe fixes; any remaining finding fails the suite here.
test('biome check: the tree is formatted and lint-clean (npm run lint)', () => {
  const biome = fileURLToPath(new URL('../node_modules/@biomejs/biome/bin/biome', import.meta.url));
  const r = spawnSync(process.execPath, [biome, 'check', '--error-on-warnings', '--colors=off', '.'], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `biome reported:\n${r.stdout}${r.stderr}`);
});

// The formatter wraps code at 120 columns but leaves comments and string literals alone: production
// code keeps every line within 200 characters (tests and benchmarks may hold long protocol captures).
test('production code has no line over 200 characters', () => {
  const git = spawnSync('git', ['ls-files', 'server', 'agent', 'shared'], { cwd: root, encoding: 'utf8' });
  assert.equal(git.status, 0, git.stderr);
  const long: string[] = [];
  for (const file of git.stdout.split('\n')) {
    if (!/\.(ts|mts|mjs)$/.test(file) || file.endsWith('.test.ts')) continue;
    readFileSync(`${root}${file}`, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (line.length > 200) long.push(`${file}:${i + 1} (${line.length} characters)`);
      });
  }
  assert.deepEqual(long, [], `lines over 200 characters:\n${long.join('\n')}`);
});

// Comments point to the code, the README and public standards, not to documents a newcomer to the
// repository does not have (the design seeds and briefs the project started from).
test('no source file refers to documents outside the repository (seed NNN, WINRM.md, DESIGN.md)', () => {
  const git = spawnSync('git', ['ls-files', 'server', 'agent', 'shared', 'test', 'bench', 'migrations'], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(git.status, 0, git.stderr);
  const found: string[] = [];
  for (const file of git.stdout.split('\n')) {
    if (!/\.(ts|mts|mjs|sql)$/.test(file) || file === 'test/lint.test.ts') continue;
    readFileSync(`${root}${file}`, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (/\bseed 0\d\d\b|WINRM\.md|DESIGN\.md|STYLE\.md/i.test(line)) found.push(`${file}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.deepEqual(found, [], `references to documents outside the repository:\n${found.join('\n')}`);
});
