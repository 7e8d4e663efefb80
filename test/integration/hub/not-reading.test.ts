import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { apiCredential, connectRaw, enrollRaw, rssSampler, storingAgent } from './raw-agent.ts';

const LIMIT_MB = 2;
const MONITORS = 4000;

let s: TestServer;
before(async () => {
  s = await startTestServer({ agents: { max_unsent_mb: LIMIT_MB } });
});
after(() => s.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Issue 13 finding 3 (outbound): an agent that stops reading its socket while the server has a lot
 * to send it (full sets of 4,000 monitors, asked for again and again) is closed with 4029 'not
 * reading' once agents.max_unsent_mb is unsent, instead of the server buffering without bound.
 */
test('an agent that stops reading is closed with 4029 "not reading" at agents.max_unsent_mb; RSS stays bounded and another agent keeps storing', {
  timeout: 90_000,
}, async () => {
  const credId = await apiCredential(s, 'nr-cred');
  const good = await storingAgent(s, { name: 'nr-good', credentialId: credId, ip: '10.80.0.1', jobPrefix: 'nr' });

  // The slow agent holds many monitors (inserted in one statement; the full set is read on connect).
  const badId = await enrollRaw(s, 'nr-bad');
  const bdev = (await s.api('POST', '/api/v1/devices', { agent_id: badId.agent_id, ip: '10.80.0.2' })).body;
  const db = new pg.Client({ connectionString: s.dbUrl });
  await db.connect();
  await db.query(
    'INSERT INTO monitors (device_id, credential_profile_id, plugin_id, polling_interval) SELECT $1, $2, 1, 60 FROM generate_series(1, $3)',
    [bdev.id, credId, MONITORS],
  );
  await db.end();
  const bad = await connectRaw(s, badId);
  const full = await bad.next('schedule.full', (m) => !m.more, 20_000);
  assert.equal(bad.held().size, MONITORS, 'the slow agent got its whole set while it read');
  const fullBytes = Buffer.byteLength(JSON.stringify(full));

  const rss = rssSampler();
  const notReading = () =>
    s.logs.find(
      (l) =>
        l.includes('closing agent socket') && l.includes('not reading') && l.includes(`"agent_id":${badId.agent_id}`),
    );
  let resyncs = 0;
  try {
    bad.pauseReading();
    // It keeps asking for its full set (20 a second: within its message rate) but reads none of it.
    const deadline = Date.now() + 40_000;
    while (!notReading() && Date.now() < deadline) {
      bad.send({ type: 'schedule.resync', have: bad.revision(), reason: 'test: asking without reading' });
      resyncs++;
      await good.storeOne();
      await sleep(50);
    }
    const line = notReading();
    assert.ok(
      line,
      `closed for not reading after ${resyncs} full sets of ${(fullBytes / 1e6).toFixed(2)} MB were asked for`,
    );
    assert.match(line!, /"code":4029/);
    assert.match(line!, new RegExp(`not reading: over ${LIMIT_MB * 1024 * 1024} bytes unsent`));
    const warn = s.logs.find(
      (l) => l.includes('agent is not reading its socket') && l.includes(`"agent_id":${badId.agent_id}`),
    );
    assert.ok(warn, 'the reason is logged');
    const buffered = Number(/"buffered":(\d+)/.exec(warn!)?.[1]);
    assert.ok(
      buffered > LIMIT_MB * 1024 * 1024 && buffered <= LIMIT_MB * 1024 * 1024 + fullBytes + 65_536,
      `closed at ${buffered} bytes unsent: past the limit by at most one message`,
    );
    // The close frame is queued behind what it never read; once it reads again the socket is gone.
    bad.resumeReading();
    const closed = await Promise.race([bad.closed, sleep(10_000).then(() => ({ code: -1, reason: 'still open' }))]);
    assert.notEqual(closed.code, -1, "the slow agent's socket was closed by the server");
    assert.equal((await s.api('GET', `/api/v1/agents/${badId.agent_id}`)).body.online, false);
    // The other agent was never held up and stores one more now.
    await good.storeOne();
    assert.equal((await s.api('GET', `/api/v1/monitors/${good.monitorId}`)).body.last_attempted, good.lastStored());
    assert.ok(
      rss.growth() < 200 * 1024 * 1024,
      `RSS grew ${(rss.growth() / 1e6).toFixed(0)} MB (client and server share this process)`,
    );
  } finally {
    rss.stop();
    good.agent.close();
    bad.close();
  }
});
