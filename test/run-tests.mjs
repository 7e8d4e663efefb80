// Runs every *.test.ts under test/, server/, agent/ and shared/ with node's test runner (tsx loader).
// Node 20's --test does not expand globs, so the file list is built here.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = ['shared', 'agent', 'server', 'test'];
const filter = process.argv.slice(2);
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'fixtures') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.ts')) files.push(path);
  }
};
for (const root of roots) walk(root);
const selected = filter.length ? files.filter((f) => filter.some((x) => f.includes(x))) : files;
if (selected.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// NMSLITE_TEST_REQUIRE_ALL=1 (set by .ci/run, which installs everything): a skipped test fails the
// run. A TAP copy of the report is written beside the spec output to count them.
const requireAll = process.env.NMSLITE_TEST_REQUIRE_ALL === '1';
const tapDir = requireAll ? mkdtempSync(join(tmpdir(), 'nmslite-tests-')) : undefined;
const reporters = tapDir
  ? [
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${join(tapDir, 'report.tap')}`,
    ]
  : ['--test-reporter=spec'];
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...reporters, ...selected], {
  stdio: 'inherit',
  env: { ...process.env, NODE_ENV: 'test' },
});
let status = result.status ?? 1;
if (tapDir) {
  const tap = readFileSync(join(tapDir, 'report.tap'), 'utf8');
  rmSync(tapDir, { recursive: true, force: true });
  const skipped = tap
    .split('\n')
    .filter((l) => /^\s*(not )?ok \d+ .*# SKIP/.test(l))
    .map((l) => l.trim());
  if (skipped.length) {
    console.error(`\nNMSLITE_TEST_REQUIRE_ALL=1: ${skipped.length} test(s) skipped, which this run does not allow:`);
    for (const l of skipped) console.error(`  ${l}`);
    status = status || 1;
  }
}
process.exit(status);
