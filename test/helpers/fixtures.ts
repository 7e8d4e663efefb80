// Test fixtures: the project's own copies in test/fixtures/ (MIT/Apache/BSD captures with their
// sources in SOURCES.md), else the developer set beside the checkout in ../shared/fixtures/ (which
// also holds the GPL txwinrm captures the project does not copy). A test whose fixture is in
// neither place skips with one line saying what is missing (fails under NMSLITE_TEST_REQUIRE_ALL=1).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test as nodeTest, type TestContext, type TestOptions } from 'node:test';
import { requireAll } from './skip.ts';

const OWN = fileURLToPath(new URL('../fixtures/', import.meta.url));
const SHARED = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));

export class MissingFixtureError extends Error {
  override readonly name = 'MissingFixtureError';
}

/** The path of a fixture such as 'winrm/shell_create_response.xml' or 'ntlm/ms-nlmp-4.2-vectors.json'. */
export function fixturePath(rel: string): string {
  for (const dir of [OWN, SHARED]) if (existsSync(dir + rel)) return dir + rel;
  throw new MissingFixtureError(
    `fixture ${rel} is missing: it is not in test/fixtures/ (GPL captures are not copied there) and there is no ../shared/fixtures/ beside the checkout; put the developer fixture set there to run this test`,
  );
}

export function readFixture(rel: string): Buffer;
export function readFixture(rel: string, encoding: 'utf8'): string;
export function readFixture(rel: string, encoding?: 'utf8'): string | Buffer {
  return encoding ? readFileSync(fixturePath(rel), encoding) : readFileSync(fixturePath(rel));
}

/** One WinRM capture as text. */
export const winrmFixture = (name: string): string => readFixture(`winrm/${name}`, 'utf8');

/** The file names in a fixture folder ('winrm'), the project's copies and ../shared's together. */
export function fixtureNames(folder: string): string[] {
  const names = new Set<string>();
  for (const dir of [OWN, SHARED])
    if (existsSync(dir + folder))
      for (const n of readdirSync(dir + folder)) if (n !== 'SOURCES.md' && n !== 'INDEX.md') names.add(n);
  return [...names].sort();
}

/** Whether a fixture is available, without throwing. */
export function hasFixture(rel: string): boolean {
  return existsSync(OWN + rel) || existsSync(SHARED + rel);
}

type TestFn = (t: TestContext) => unknown;
/**
 * node:test's test(), except that a test whose body needs a missing fixture (MissingFixtureError)
 * is reported as skipped with that one line instead of failing. Use it in place of `test` in files
 * that read fixtures: `import { test } from '.../helpers/fixtures.ts'`.
 */
export function test(name: string, fn: TestFn): Promise<void>;
export function test(name: string, options: TestOptions, fn: TestFn): Promise<void>;
export function test(name: string, a: unknown, b?: unknown): Promise<void> {
  const fn = (typeof a === 'function' ? a : b) as TestFn;
  const options = (typeof a === 'function' ? {} : (a ?? {})) as object;
  return nodeTest(name, options, async (t) => {
    try {
      await fn(t);
    } catch (err) {
      if (err instanceof MissingFixtureError && !requireAll()) {
        t.skip(err.message);
        return;
      }
      throw err;
    }
  });
}
