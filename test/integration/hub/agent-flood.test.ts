import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CloseCode, MAX_MESSAGE_BYTES } from '../../../shared/protocol/index.ts';
import { MESSAGE_BURST } from '../../../server/hub/session-limits.ts';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { apiCredential, apiMonitor, connectRaw, enrollRaw, rssSampler, storingAgent } from './raw-agent.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(() => s.stop());

const health = { spool_backlog: 0, jobs_in_flight: 0, job_lateness_ms: 0, errors: {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Issue 13 finding 3 (the session's part): a heartbeat flood is cut off; another agent keeps storing results. */
test('an enrolled agent flooding heartbeats is closed with 4029 after its burst; memory stays bounded and another agent keeps storing', {
  timeout: 90_000,
}, async () => {
  const credId = await apiCredential(s, 'flood2-cred');
  const good = await storingAgent(s, { name: 'flood2-good', credentialId: credId, ip: '10.78.0.1', jobPrefix: 'g' });
  const bad = await connectRaw(s, await enrollRaw(s, 'flood2-bad'));

  const rss = rssSampler();
  const SENT = 50_000;
  try {
    const hb = JSON.stringify({ type: 'heartbeat', sent_at: Date.now(), health });
    for (let i = 0; i < SENT; i += 1000) {
      for (let j = 0; j < 1000; j++) bad.send(hb);
      await good.storeOne();
    }
    const closed = await Promise.race([bad.closed, sleep(10_000).then(() => ({ code: -1, reason: 'still open' }))]);
    assert.equal(closed.code, CloseCode.serverBusy, `closed: ${JSON.stringify(closed)}`);
    assert.match(closed.reason, /messages per second/);
    const answered = bad.messages.filter((m) => m.type === 'heartbeat.ack').length;
    assert.ok(answered <= MESSAGE_BURST + 500, `only the burst was answered: ${answered} of ${SENT}`);
    // The other agent was never held up: it stores one more now.
    await good.storeOne();
    const stored = await s.api('GET', `/api/v1/monitors/${good.monitorId}`);
    assert.equal(stored.status, 200);
    assert.ok(
      rss.growth() < 200 * 1024 * 1024,
      `RSS grew ${(rss.growth() / 1e6).toFixed(0)} MB during the flood (client and server share this process)`,
    );
  } finally {
    rss.stop();
    good.agent.close();
    bad.close();
  }
});

/** Issue 13 finding 3 (inbound size): a batch over MAX_MESSAGE_BYTES is refused with 4008 and a reason; maximum-size batches sent without waiting are bounded. */
test('oversized result batches are closed with 4008; maximum-size batches sent without waiting for acks keep RSS bounded and another agent keeps storing', {
  timeout: 120_000,
}, async () => {
  const credId = await apiCredential(s, 'flood3-cred');
  const good = await storingAgent(s, {
    name: 'flood3-good',
    credentialId: credId,
    ip: '10.78.1.1',
    jobPrefix: 'g3-',
    ackTimeoutMs: 15_000,
  });
  const bigId = await enrollRaw(s, 'flood3-big');
  const bmon = await apiMonitor(s, bigId.agent_id, credId, '10.78.1.2');
  const base = good.base;

  // 5,000 results (the schema's most) with failure messages sized so the batch is just under MAX_MESSAGE_BYTES.
  const batch = (b: number, messageChars: number) =>
    JSON.stringify({
      type: 'results.batch',
      results: Array.from({ length: 5000 }, (_, i) => {
        const k = b * 5000 + i;
        return {
          seq: k + 1,
          job_id: `b${k}`,
          monitor_id: bmon,
          time: new Date(base - k * 1000).toISOString(),
          attempts: 1,
          failure: { class: 'internal', message: 'y'.repeat(messageChars) },
        };
      }),
    });
  const probe = Buffer.byteLength(batch(20, 0)); // later batches have longer seqs and job ids
  const chars = Math.min(2000, Math.floor((MAX_MESSAGE_BYTES - probe - 20_000) / 5000));

  // Over the limit (within the socket layer's frame bound): closed with 4008 and a reason, nothing stored.
  const over = await connectRaw(s, bigId);
  await over.next('schedule.full', (m) => !m.more);
  const oversized = batch(0, chars + 20);
  assert.ok(Buffer.byteLength(oversized) > MAX_MESSAGE_BYTES);
  over.send(oversized);
  const closed = await Promise.race([over.closed, sleep(10_000).then(() => ({ code: -1, reason: 'still open' }))]);
  assert.equal(closed.code, CloseCode.tooLarge, `closed: ${JSON.stringify(closed)}`);
  assert.match(closed.reason, new RegExp(`over the ${MAX_MESSAGE_BYTES}-byte limit`));
  assert.equal(over.messages.filter((m) => m.type === 'results.ack').length, 0, 'nothing of it acknowledged');
  await good.storeOne();

  // Maximum-size valid batches, sent back to back without waiting for acks (the client only keeps its own socket buffer under 16 MB).
  const BATCHES = 12;
  const big = await connectRaw(s, bigId);
  await big.next('schedule.full', (m) => !m.more);
  const texts = Array.from({ length: BATCHES }, (_, b) => batch(b, chars));
  for (const t of texts)
    assert.ok(
      Buffer.byteLength(t) <= MAX_MESSAGE_BYTES && Buffer.byteLength(t) > MAX_MESSAGE_BYTES - 100_000,
      `a batch of ${Buffer.byteLength(t)} bytes is maximum-size`,
    );
  const rss = rssSampler();
  try {
    const acked = () => big.messages.flatMap((m) => (m.type === 'results.ack' ? m.seqs : [])).length;
    for (const t of texts) {
      while (big.bufferedAmount() > 16 * 1024 * 1024) await sleep(20);
      big.send(t);
      await good.storeOne();
    }
    const deadline = Date.now() + 60_000;
    while (acked() < BATCHES * 5000 && Date.now() < deadline) {
      await good.storeOne();
      await sleep(100);
    }
    assert.equal(acked(), BATCHES * 5000, 'every maximum-size batch acknowledged');
    assert.equal(
      await Promise.race([big.closed.then((c) => `closed ${c.code}`), sleep(50).then(() => 'open')]),
      'open',
      'valid maximum-size batches do not close the session',
    );
    assert.equal((await s.api('GET', `/api/v1/monitors/${bmon}`)).body.last_attempted, new Date(base).toISOString());
    assert.equal(
      (await s.api('GET', `/api/v1/monitors/${good.monitorId}`)).body.last_attempted,
      good.lastStored(),
      'the other agent stored throughout',
    );
    assert.ok(
      rss.growth() < 400 * 1024 * 1024,
      `RSS grew ${(rss.growth() / 1e6).toFixed(0)} MB for ${BATCHES} batches of ${(MAX_MESSAGE_BYTES / 1e6).toFixed(1)} MB (client and server share this process)`,
    );
  } finally {
    rss.stop();
    good.agent.close();
    big.close();
  }
});
