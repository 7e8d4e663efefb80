import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createAdminClient } from '../../../server/api/admin-client.ts';
import { startTestServer, TEST_ADMIN, type TestServer } from '../../helpers/server.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(() => s.stop());

test('the README admin script runs against a live server through the package export', async () => {
  const script = fileURLToPath(new URL('../../fixtures/admin-script.mts', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, NMS_URL: s.url, NMS_PASSWORD: TEST_ADMIN.password },
    cwd: fileURLToPath(new URL('../../..', import.meta.url)),
  });
  const out = JSON.parse(stdout.trim().split('\n').pop()!);
  assert.equal(typeof out.created_profile, 'number');
  assert.equal(out.version, 1);
  assert.equal(out.monitors, 0);
  assert.equal((await s.api('GET', `/api/v1/credential-profiles/${out.created_profile}`)).status, 200);
});

test('the typed client pins the certificate fingerprint and maps errors', async () => {
  const nms = await createAdminClient({ url: s.url, ...TEST_ADMIN, fingerprint: s.server.fingerprint });
  const agent = await nms.agents.create.mutate({ name: 'typed-site' });
  assert.match(agent.enrollment_token, /^nmse_/);
  await assert.rejects(nms.monitors.get.query({ id: 999999 }), /not found/);
  await assert.rejects(createAdminClient({ url: s.url, ...TEST_ADMIN, fingerprint: 'aa'.repeat(32) }), /fingerprint/);
  await assert.rejects(
    createAdminClient({ url: s.url, username: 'admin', password: 'wrong-password', insecure: true }),
    /login failed/,
  );
});
