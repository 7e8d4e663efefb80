import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';

const EpochFile = z.object({ admin_token_epoch: z.number().int().nonnegative() }).strict();

/**
 * The admin tokens' revocation counter, kept in a 0600 file in the data directory (no table: a
 * migration for one number was not worth it). `bump()` revokes every token issued before it.
 */
export function createTokenEpochStore(file: string) {
  let epoch = 0;
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new Error(`${file} cannot be read: ${(err as Error).message}`);
  }
  if (text !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const r = EpochFile.safeParse(json);
    // Starting at 0 again would bring revoked tokens back to life.
    if (!r.success)
      throw new Error(
        `${file} is damaged; delete it to start over (tokens revoked by a logout would become valid again until their expiry)`,
      );
    epoch = r.data.admin_token_epoch;
  }
  return {
    current: (): number => epoch,
    /** Takes effect at once; rejects if the new value could not be saved (it holds until a restart). */
    async bump(): Promise<void> {
      epoch++;
      const tmp = `${file}.${process.pid}.tmp`;
      try {
        mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
        writeFileSync(tmp, `${JSON.stringify({ admin_token_epoch: epoch })}\n`, { mode: 0o600 });
        renameSync(tmp, file);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw err;
      }
    },
  };
}
export type TokenEpochStore = ReturnType<typeof createTokenEpochStore>;
