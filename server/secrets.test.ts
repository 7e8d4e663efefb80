import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, parseConfig } from './config.ts';
import { resolveSecrets } from './secrets.ts';

const embeddedConfig = (dataDir: string) => parseConfig(loadConfig(['--data_dir', dataDir], { DATABASE_URL: '' }));

test('first start generates secrets.json; later starts read the same secrets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
  const first = resolveSecrets(embeddedConfig(dir));
  assert.ok(first.generatedPassword, 'generated once');
  const again = resolveSecrets(embeddedConfig(dir));
  assert.equal(again.authPassword, first.authPassword, 'same admin password');
  assert.equal(again.dbPassword, first.dbPassword, 'same database password');
  assert.equal(again.generatedPassword, undefined, 'not shown again');
  rmSync(dir, { recursive: true, force: true });
});

test('a lost or damaged secrets.json beside an existing database stops start with how to recover, never new secrets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
  resolveSecrets(embeddedConfig(dir));
  mkdirSync(join(dir, 'postgres'), { recursive: true });
  writeFileSync(join(dir, 'postgres', 'PG_VERSION'), '16\n');
  writeFileSync(join(dir, 'secrets.json'), '{"auth_password": "trunc');
  assert.throws(
    () => resolveSecrets(embeddedConfig(dir)),
    (e: unknown) =>
      e instanceof ConfigError &&
      /damaged/.test(e.message) &&
      /Restore it from a backup/.test(e.message) &&
      !/deleting it/.test(e.message),
    'damaged: names the file, no raw JSON error',
  );
  rmSync(join(dir, 'secrets.json'));
  assert.throws(
    () => resolveSecrets(embeddedConfig(dir)),
    (e: unknown) => e instanceof ConfigError && /is missing/.test(e.message) && /restore the file/.test(e.message),
    'missing: refuses to generate new secrets',
  );
  rmSync(dir, { recursive: true, force: true });
});
