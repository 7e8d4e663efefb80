import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { MAX_MESSAGE_BYTES, SCHEDULE_PART_ASSIGNMENTS, type ServerMessage } from '../../../shared/protocol/index.ts';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { apiCredential, connectRaw, enrollRaw } from './raw-agent.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(() => s.stop());

test('a set of 25,000 monitors with bulky plugin configs goes out in parts that each fit a message, applied whole', {
  timeout: 120_000,
}, async () => {
  const id = await enrollRaw(s, 'large-site');
  const credId = await apiCredential(s, 'large-cred');
  const plugin = (
    await s.api('POST', '/api/v1/plugins', {
      name: 'bulky',
      type: 'external',
      config: { command: 'check', args: ['x'.repeat(300)] },
    })
  ).body;
  const db = new pg.Client({ connectionString: s.dbUrl });
  await db.connect();
  try {
    await db.query(
      `WITH d AS (INSERT INTO devices (agent_id, ip, status) SELECT $1, '10.' || (g / 65536) || '.' || ((g / 256) % 256) || '.' || (g % 256), 'active' FROM generate_series(1, 25000) g RETURNING id)
       INSERT INTO monitors (device_id, credential_profile_id, plugin_id, polling_interval) SELECT id, $2, $3, 60 FROM d`,
      [id.agent_id, credId, plugin.id],
    );
  } finally {
    await db.end();
  }
  const sizes: number[] = [];
  const a = await connectRaw(s, id);
  const last = await a.next('schedule.full', (m) => !m.more, 60_000);
  const parts = a.messages.filter(
    (m): m is Extract<ServerMessage, { type: 'schedule.full' }> => m.type === 'schedule.full',
  );
  for (const p of parts) sizes.push(Buffer.byteLength(JSON.stringify(p)));
  assert.ok(parts.length >= 3, `${parts.length} parts`);
  assert.ok(
    sizes.every((n) => n < MAX_MESSAGE_BYTES),
    `sizes ${sizes.join(', ')}`,
  );
  assert.ok(
    parts.every(
      (p) =>
        p.assignments.length <= SCHEDULE_PART_ASSIGNMENTS && p.revision === last.revision && p.credentials.length === 1,
    ),
  );
  assert.equal(a.held().size, 25_000);

  // One change to this large set is one small delta, in time: only the changed monitor is re-read.
  const one = [...a.held().keys()][12_345]!;
  const from = a.messages.length;
  const t0 = Date.now();
  assert.equal((await s.api('PUT', `/api/v1/monitors/${one}`, { polling_interval: 120 })).status, 200);
  const d = await a.next('schedule.delta', undefined, 5000, from);
  assert.ok(Date.now() - t0 < 1000, `delta after ${Date.now() - t0} ms`);
  assert.deepEqual([d.upsert.map((x) => [x.monitor_id, x.interval_s]), d.remove], [[[one, 120]], []]);
  a.close();
});
