import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Replaces `path` with `data` so that a crash leaves either the old file or the new one, never a
 * torn mix: write a temporary file beside it, fsync, rename over, fsync the directory. The agent's
 * one way to replace a file (identity, schedule, state, the spool's eviction record). A failed
 * write (disk full) removes its temporary file and leaves the old file as it was.
 */
export async function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  const tmp = `${path}.tmp`;
  try {
    const fh = await open(tmp, 'w', mode);
    try {
      await fh.chmod(mode);
      await fh.writeFile(data, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    // A disk that filled up mid-write must not keep the torn copy's space taken.
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(path);
}

export function writeFileAtomicSync(path: string, data: string, mode = 0o600): void {
  // Its own temporary name: an async write of the same file may be between its open and rename.
  const tmp = `${path}.sync.tmp`;
  try {
    const fd = openSync(tmp, 'w', mode);
    try {
      fchmodSync(fd, mode);
      const buf = Buffer.from(data, 'utf8');
      for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      /* never created, or not a file */
    }
    throw err;
  }
  try {
    const d = openSync(dirname(path), 'r');
    try {
      fsyncSync(d);
    } finally {
      closeSync(d);
    }
  } catch {
    /* some filesystems refuse fsync on a directory; the rename is still atomic */
  }
}

async function syncDir(path: string): Promise<void> {
  try {
    const d = await open(dirname(path), 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    /* some filesystems refuse fsync on a directory; the rename is still atomic */
  }
}
