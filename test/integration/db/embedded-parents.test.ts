import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openParentsFor } from '../../../server/db/embedded.ts';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const postgresIds = (): { uid: number; gid: number } | undefined => {
  try {
    return {
      uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })),
      gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })),
    };
  } catch {
    return undefined;
  }
};
const mode = (p: string) => (statSync(p).mode & 0o7777).toString(8).padStart(4, '0');

test('as root, only the parent folders the postgres user cannot search get o+x, and each is reported', {
  skip: !isRoot || !postgresIds() ? 'needs root and a postgres user' : false,
}, () => {
  const ids = postgresIds()!;
  const root = mkdtempSync('/tmp/nmslite-parents-');
  try {
    const closed = join(root, 'closed'); // root's, 0700: postgres cannot pass
    const viaGroup = join(closed, 'group'); // group postgres, g+x: passes already
    const owned = join(viaGroup, 'owned'); // postgres's own, 0700: passes already
    const open = join(owned, 'open'); // 0711: passes already
    const data = join(open, 'pg');
    mkdirSync(data, { recursive: true });
    chmodSync(root, 0o755);
    chmodSync(closed, 0o700);
    chownSync(viaGroup, 0, ids.gid);
    chmodSync(viaGroup, 0o750);
    chownSync(owned, ids.uid, ids.gid);
    chmodSync(owned, 0o700);
    chmodSync(open, 0o711);
    const opened = openParentsFor(data);
    assert.deepEqual(opened, [{ folder: closed, mode_before: '0700', mode_after: '0701' }]);
    assert.deepEqual(
      [mode(closed), mode(viaGroup), mode(owned), mode(open)],
      ['0701', '0750', '0700', '0711'],
      'no group bit added, no other folder touched',
    );
    assert.deepEqual(openParentsFor(data), [], 'a second start changes nothing');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
