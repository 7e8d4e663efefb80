import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic, writeFileAtomicSync } from './atomic-file.ts';

for (const [name, write] of [
  ['async', writeFileAtomic],
  ['sync', async (p: string, d: string) => writeFileAtomicSync(p, d)],
] as const) {
  test(`${name}: replaces the file whole with mode 0600, and a failed write leaves the old file and no temporary file`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nmslite-atomic-'));
    const file = join(dir, 'x.json');
    writeFileSync(file, 'old', { mode: 0o644 });
    await write(file, 'new');
    assert.equal(readFileSync(file, 'utf8'), 'new');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ['x.json']);
    // Data that cannot be written fails the write after the temporary file was created, as a full disk does.
    await assert.rejects(write(file, undefined as unknown as string));
    assert.equal(readFileSync(file, 'utf8'), 'new', 'the old file is untouched');
    assert.deepEqual(readdirSync(dir), ['x.json'], 'no temporary file left');
    assert.equal(existsSync(`${file}.tmp`), false);
  });
}
