import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { apiMonitor, apiCredential, connectRaw, enrollRaw } from './raw-agent.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer({ agents: { heartbeat_ms: 1000 } });
});
after(() => s.stop());

test('an agent that sends batches without waiting for acks is not read further while 16 are being stored, and loses nothing', {
  timeout: 60_000,
}, async () => {
  const id = await enrollRaw(s, 'flood');
  const credId = await apiCredential(s, 'flood-cred');
  const monId = await apiMonitor(s, id.agent_id, credId, '10.77.0.1');
  const a = await connectRaw(s, id);
  await a.next('schedule.full', (m) => !m.more);

  // The monitor's row is locked, so every batch waits in the writer: a stand-in for a slow database.
  const holder = new pg.Client({ connectionString: s.dbUrl });
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query('SELECT 1 FROM monitors WHERE id = $1 FOR UPDATE', [monId]);
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await holder.query('ROLLBACK');
    await holder.end();
  };
  const BATCHES = 60;
  const PER = 500;
  // 'internal' failures with long messages: ~1 MB per batch, and nothing the health monitor counts.
  const message = 'x'.repeat(2000);
  const base = Date.now() - 3600_000 * 24;
  // Serialized first, so the sends leave together (a long synchronous loop would look like a dead agent).
  const batches = Array.from({ length: BATCHES }, (_, b) =>
    JSON.stringify({
      type: 'results.batch',
      results: Array.from({ length: PER }, (_, i) => {
        const k = b * PER + i;
        return {
          seq: k + 1,
          job_id: `j${k}`,
          monitor_id: monId,
          time: new Date(base + k * 1000).toISOString(),
          attempts: 1,
          failure: { class: 'internal', message },
        };
      }),
    }),
  );
  for (const b of batches) a.send(b);
  const sent = a.bufferedAmount();
  try {
    // Longer than two heartbeats: not reading must not count as the agent going silent.
    await new Promise((r) => setTimeout(r, 2500));
    const stuck = a.bufferedAmount();
    assert.ok(
      stuck > 20 * 1024 * 1024,
      `the server stopped reading: ${(stuck / 1e6).toFixed(1)} MB of ${(sent / 1e6).toFixed(1)} MB still unsent`,
    );
    assert.equal(a.messages.filter((m) => m.type === 'results.ack').length, 0);
  } finally {
    await release();
  }
  const deadline = Date.now() + 40_000;
  const acked = () =>
    a.messages.filter((m) => m.type === 'results.ack').flatMap((m) => (m.type === 'results.ack' ? m.seqs : [])).length;
  while (acked() < BATCHES * PER && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(acked(), BATCHES * PER, 'every batch acknowledged on the same session once the database is back');
  const m = (await s.api('GET', `/api/v1/monitors/${monId}`)).body;
  assert.equal(m.last_attempted, new Date(base + (BATCHES * PER - 1) * 1000).toISOString());
  assert.equal(
    (await s.api('GET', `/api/v1/agents/${id.agent_id}`)).body.online,
    true,
    'not cut off for missed heartbeats while not read',
  );
  a.close();
});
