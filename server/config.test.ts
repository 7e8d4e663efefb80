import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, parseConfig } from './config.ts';

test('flags beat environment, environment beats the config file, the file beats defaults', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'cfg-')), 'config.yaml');
  writeFileSync(file, 'server:\n  port: 7000\n  host: 127.0.0.1\nlog:\n  level: warn\nagents:\n  heartbeat_ms: 3000\n');
  const cfg = parseConfig(
    loadConfig(['--server.port', '9000'], {
      NMSLITE_CONFIG: file,
      NMSLITE_SERVER_PORT: '8000',
      NMSLITE_LOG_LEVEL: 'debug',
      AUTH_USERNAME: 'root',
    }),
  );
  assert.equal(cfg.server.port, 9000);
  assert.equal(cfg.log.level, 'debug');
  assert.equal(cfg.server.host, '127.0.0.1');
  assert.equal(cfg.agents.heartbeat_ms, 3000);
  assert.equal(cfg.auth.username, 'root');
  assert.equal(cfg.health.failure_threshold, 5, 'defaults fill the rest');
  assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.server));
});

test('a malformed or unknown setting stops start with a message naming it', () => {
  const bad: [string[], Record<string, string>, RegExp][] = [
    [[], { NMSLITE_SERVER_PORT: 'eighty' }, /server\.port/],
    [[], { DATABASE_URL: 'mysql://x' }, /database\.url/],
    [[], { JWT_SECRET: 'short' }, /auth\.jwt_secret/],
    [['--server.prot', '1'], {}, /server.*prot/],
    [[], { NMSLITE_LOG_LEVEL: 'loud' }, /log\.level/],
    [['--server.port'], {}, /needs a value/],
    [[], { JWT_SECRET: 'change-me-at-least-32-characters-long-secret' }, /auth\.jwt_secret.*example value/],
    [[], { AUTH_PASSWORD: 'change-me-admin-password' }, /auth\.password.*example value/],
    [[], { NMSLITE_MASTER_KEY: 'REPLACE_WITH_openssl_rand_base64_32' }, /master_key.*example value/],
  ];
  for (const [argv, env, re] of bad)
    assert.throws(
      () => parseConfig(loadConfig(argv, env)),
      (e: Error) => e instanceof ConfigError && re.test(e.message),
      JSON.stringify([argv, env]),
    );
});
