import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePluginOutput } from './external.ts';

test('plugin output: partial metrics become a full sample with nulls and the measured time', () => {
  const s = parsePluginOutput('  {"cpu_percent": 3.5, "disk_total": 1000, "disk_used": 10}\n', undefined, 42);
  assert.equal(s.cpu_percent, 3.5);
  assert.equal(s.disk_total, 1000);
  assert.equal(s.memory_total, null);
  assert.equal(s.collection_ms, 42);
  assert.equal(parsePluginOutput('{"collection_ms": 7}', undefined, 42).collection_ms, 7);
});

test('plugin output: a password echoed in garbage is redacted from the error', () => {
  assert.throws(
    () => parsePluginOutput('login as admin:hunter2 failed', 'hunter2', 1),
    (e: Error) => /admin:\*\*\* failed/.test(e.message) && !e.message.includes('hunter2'),
  );
  assert.throws(() => parsePluginOutput('[1,2]', undefined, 1), /not an object of metrics/);
});

test('plugin output: the password is redacted also as the plugin echoes it from its JSON input (escaped, \\u-escaped, base64)', () => {
  const secret = 'S3cr"et\\pä';
  const echoes = [
    JSON.stringify({ password: secret }), // JSON.stringify: quote and backslash escaped
    '{"password": "S3cr\\"et\\\\p\\u00e4"}', // Python json.dumps (ensure_ascii)
    '{"password": "S3cr\\"et\\\\p\\u00E4"}',
    `token ${Buffer.from(secret).toString('base64')}`,
  ];
  for (const echo of echoes) {
    assert.throws(
      () => parsePluginOutput(`oops ${echo}`, secret, 1),
      (e: Error) =>
        e.message.includes('***') &&
        !e.message.includes('S3cr') &&
        !e.message.includes(Buffer.from(secret).toString('base64')),
      `redacted in: ${echo}`,
    );
  }
});
