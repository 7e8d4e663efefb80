import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpsRequest, startTestServer } from '../../helpers/server.ts';

test('the OpenAPI document never takes its server URL from the Host header', async () => {
  const s = await startTestServer();
  try {
    const first = await httpsRequest('GET', `${s.url}/api/v1/openapi.json`, { host: 'attacker.example' });
    assert.equal(first.status, 200);
    const later = await httpsRequest('GET', `${s.url}/api/v1/openapi.json`, {});
    for (const r of [first, later]) {
      assert.ok(!JSON.stringify(r.body).includes('attacker.example'), 'the Host header reached the document');
      assert.deepEqual(r.body.servers, [{ url: '/api/v1' }], 'no public URL configured: a relative server URL');
    }
  } finally {
    await s.stop();
  }
});

test('with server.public_url set, the document points there', async () => {
  const s = await startTestServer({
    server: { host: '127.0.0.1', port: 0, public_url: 'https://nms.example.org:8443/' },
  });
  try {
    const r = await httpsRequest('GET', `${s.url}/api/v1/openapi.json`, { host: 'attacker.example' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.servers, [{ url: 'https://nms.example.org:8443/api/v1' }]);
    assert.ok(!JSON.stringify(r.body).includes('attacker.example'));
  } finally {
    await s.stop();
  }
});
