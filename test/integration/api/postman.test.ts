import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import newman from 'newman';
import { buildPostmanCollection } from '../../../server/api/rest/postman.ts';
import { SERVER_VERSION } from '../../../server/version.ts';
import { startTestServer, TEST_ADMIN, type TestServer } from '../../helpers/server.ts';

const COLLECTION = fileURLToPath(new URL('../../../server/api/rest/postman-collection.json', import.meta.url));
let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(() => s.stop());

test('the committed Postman collection is in sync with the API (regenerate with npm run postman)', () => {
  assert.deepEqual(JSON.parse(readFileSync(COLLECTION, 'utf8')), buildPostmanCollection(SERVER_VERSION));
});

test('the served OpenAPI document lists every REST endpoint', async () => {
  const r = await s.api('GET', '/api/v1/openapi.json', undefined, null);
  assert.equal(r.status, 200);
  assert.ok(r.body.paths['/monitors/{id}/metrics/history'].get);
  assert.ok(r.body.paths['/credential-profiles/{id}'].delete);
});

test("newman runs the collection's journey against a live server with every assertion passing", async () => {
  const summary = await new Promise<newman.NewmanRunSummary>((resolve, reject) => {
    newman.run(
      {
        collection: COLLECTION,
        insecure: true,
        folder: 'Journey',
        envVar: [
          { key: 'baseUrl', value: `${s.url}/api/v1` },
          { key: 'username', value: TEST_ADMIN.username },
          { key: 'password', value: TEST_ADMIN.password },
        ],
        reporters: [],
      },
      (err, sum) => (err ? reject(err) : resolve(sum)),
    );
  });
  const failures = summary.run.failures.map((f) => `${f.source?.name}: ${f.error.message}`);
  assert.deepEqual(failures, []);
  assert.ok((summary.run.stats.assertions.total ?? 0) >= 29, `assertions ${summary.run.stats.assertions.total}`);
});
