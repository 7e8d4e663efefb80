import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PLUGIN_NAME_RE } from '../../shared/external-plugin.ts';
import { ClassifiedError } from '../failure.ts';

/*
 * The site decides what runs at the site: the server names an external plugin, and the agent runs
 * it only if the agent's own administrator put an executable of that name in the plugins folder
 * (`<home>/plugins/<name>`, a file or a symlink to one). On POSIX the folder and the file must
 * belong to root or the agent's account and not be writable by group or others, or someone else
 * on the machine could install a plugin.
 */

const notAllowed = (message: string): ClassifiedError =>
  new ClassifiedError('plugin_error', message, { code: 'not_allowed', retryable: false });

const shown = (name: string): string => JSON.stringify(name.length > 100 ? `${name.slice(0, 100)}…` : name);

async function checkNotShared(path: string, what: string): Promise<void> {
  if (process.platform === 'win32' || !process.getuid) return;
  const st = await stat(path);
  if ((st.mode & 0o022) !== 0)
    throw notAllowed(
      `${what} ${path} is writable by group or others; the agent runs plugins only from a folder that its administrator alone can change (chmod go-w)`,
    );
  // Another account that owns it could change it (chmod, rewrite) whatever its mode says.
  if (st.uid !== 0 && st.uid !== process.getuid())
    throw notAllowed(
      `${what} ${path} belongs to another account (uid ${st.uid}); it must belong to root or to the agent's own account`,
    );
}

/** The path of the installed plugin `name`, or a `not_allowed` plugin_error saying why it may not run. */
export async function resolveInstalledPlugin(pluginsDir: string | undefined, name: string): Promise<string> {
  if (!pluginsDir) throw notAllowed('this agent runs no external plugins (it has no plugins folder)');
  if (!PLUGIN_NAME_RE.test(name)) {
    throw notAllowed(
      `${shown(name)} is not a plugin name: an external plugin's command names an executable its site installed in the agent's plugins folder (${pluginsDir}), not a path or a command line`,
    );
  }
  const path = join(pluginsDir, name);
  try {
    const st = await stat(path);
    if (!st.isFile()) throw notAllowed(`plugin ${shown(name)} is not a file in the agent's plugins folder (${path})`);
    await checkNotShared(pluginsDir, 'the plugins folder');
    await checkNotShared(path, 'the plugin');
    await access(path, constants.X_OK);
  } catch (err) {
    if (err instanceof ClassifiedError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw notAllowed(
        `plugin ${shown(name)} is not installed on this agent (no ${path}); the site's administrator installs plugins there`,
      );
    if (code === 'EACCES') throw notAllowed(`plugin ${shown(name)} is not executable by the agent (${path})`);
    throw notAllowed(`plugin ${shown(name)} cannot be checked (${code ?? (err as Error).message})`);
  }
  return path;
}
