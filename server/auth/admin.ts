import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Compares both fields in constant time (hashing first makes the lengths equal). */
export function checkAdmin(
  expected: { username: string; password: string },
  given: { username: string; password: string },
): boolean {
  const u = timingSafeEqual(digest(expected.username), digest(given.username));
  const p = timingSafeEqual(digest(expected.password), digest(given.password));
  return u && p;
}
