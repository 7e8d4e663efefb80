/**
 * Tests that need something a bare machine lacks (TimescaleDB, fping, pywinrm, the GPL captures in
 * ../shared) skip with one line saying what is missing and how to get it. CI (.ci/run) installs all
 * of it and sets NMSLITE_TEST_REQUIRE_ALL=1: then nothing may skip, the tests run and fail with
 * their own error instead (and test/run-tests.mjs fails the run if any test still reported a skip).
 */
export const REQUIRE_ALL_ENV = 'NMSLITE_TEST_REQUIRE_ALL';

export function requireAll(): boolean {
  return process.env[REQUIRE_ALL_ENV] === '1';
}

/** The skip reason to hand to test()/describe() ({ skip }), or undefined when it must run. */
export function skipUnlessRequired(reason: string | undefined): string | undefined {
  if (!reason) return undefined;
  return requireAll() ? undefined : reason;
}
