import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CloseCode } from '../../../shared/protocol/index.ts';
import { MESSAGE_BURST } from '../../../server/hub/session-limits.ts';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { connectRaw, enrollRaw } from './raw-agent.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(() => s.stop());

const health = { spool_backlog: 0, jobs_in_flight: 0, job_lateness_ms: 0, errors: {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Issue 13 finding 3 (the session's part): a heartbeat flood is cut off; another agent keeps storing results. */
test('an enrolled agent flooding heartbeats is closed with 4029 after its burst; memory stays bounded and another agent keeps storing', { timeout: 90_000 }, async () => {
  const cred = (await s.api('POST', '/api/v1/credential-profiles', { name: 'flood2-cred', type: 'winrm_ntlm', username: 'u', password: 'p' })).body;
  const goodId = await enrollRaw(s, 'flood2-good');
  const dev = (await s.api('POST', '/api/v1/devices', { agent_id: goodId.agent_id, ip: '10.78.0.1' })).body;
  const mon = (await s.api('POST', '/api/v1/monitors', { device_id: dev.id, credential_profile_id: cred.id, plugin_id: 1, polling_interval: 60 })).body;
  const good = await connectRaw(s, goodId);
  await good.next('schedule.full', (m) => !m.more);
  const bad = await connectRaw(s, await enrollRaw(s, 'flood2-bad'));

  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const SENT = 50_000;
  const base = Date.now() - 86_400_000;
  let seq = 0;
  const storeOne = async () => {
    const k = ++seq;
    const from = good.messages.length;
    good.send({ type: 'results.batch', results: [{ seq: k, job_id: `g${k}`, monitor_id: mon.id, time: new Date(base + k * 60_000).toISOString(), attempts: 1, failure: { class: 'internal', message: 'x' } }] });
    await good.next('results.ack', (m) => m.seqs.includes(k), 10_000, from);
  };
  try {
    const hb = JSON.stringify({ type: 'heartbeat', sent_at: Date.now(), health });
    for (let i = 0; i < SENT; i += 1000) {
      for (let j = 0; j < 1000; j++) bad.send(hb);
      await storeOne();
    }
    const closed = await Promise.race([bad.closed, sleep(10_000).then(() => ({ code: -1, reason: 'still open' }))]);
    assert.equal(closed.code, CloseCode.serverBusy, `closed: ${JSON.stringify(closed)}`);
    assert.match(closed.reason, /messages per second/);
    const answered = bad.messages.filter((m) => m.type === 'heartbeat.ack').length;
    assert.ok(answered <= MESSAGE_BURST + 500, `only the burst was answered: ${answered} of ${SENT}`);
    // The other agent was never held up: it stores one more now.
    await storeOne();
    const stored = await s.api('GET', `/api/v1/monitors/${mon.id}`);
    assert.equal(stored.status, 200);
    assert.ok(peak - rss0 < 200 * 1024 * 1024, `RSS grew ${((peak - rss0) / 1e6).toFixed(0)} MB during the flood (client and server share this process)`);
  } finally {
    clearInterval(sampler);
    good.close();
    bad.close();
  }
});
