import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { CloseCode, PROTOCOL_VERSION } from '../../../shared/protocol/index.ts';
import { apiCredential, connectRaw, enrollRaw } from './raw-agent.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer({ agents: { auth_timeout_ms: 800 } });
});
after(() => s.stop());

function garbage(i: number): string | Buffer {
  const kinds: (() => string | Buffer)[] = [
    () => '{not json',
    () => JSON.stringify({ type: 'results.batch', results: [] }),
    () => JSON.stringify({ type: 'hello', protocol: 'x' }),
    () => JSON.stringify({ type: 'heartbeat' }),
    () => JSON.stringify([1, 2, 3]),
    () => JSON.stringify({ type: 'jobs.dispatch', jobs: [] }),
    () => Buffer.from([0xff, 0xfe, 0x00, i & 0xff]),
    () =>
      JSON.stringify({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        token: 'a.b.c',
        agent_version: '1',
        hostname: 'h',
        max_in_flight: 1,
        sent_at: 1,
      }),
    () =>
      JSON.stringify({
        type: 'hello',
        protocol: 1,
        token: 'a.b.c',
        agent_version: '1',
        hostname: 'h',
        max_in_flight: 1,
        sent_at: 1,
      }),
    () => JSON.stringify({ type: 'schedule.ack', revision: i }),
    () => JSON.stringify({ type: 'poll.result', request_id: 'x', time: 'now', attempts: 1 }),
    () => JSON.stringify({ type: 'discovery.result', run_id: 'x' }),
    () => 'null',
    () => JSON.stringify({ type: 'results.batch', results: [{ seq: -1 }] }),
    () => '"'.repeat(i % 50),
  ];
  return kinds[i % kinds.length]!();
}

test('1,000+ malformed messages close their sockets with reason codes; the server stays up and keeps serving a good agent', async () => {
  const id = await enrollRaw(s, 'fuzz-good');
  const good = await connectRaw(s, id);
  await good.next('schedule.full');

  let sent = 0;
  let received = 0;
  const codes = new Map<number, number>();
  const url = `wss://127.0.0.1:${s.port}/agent`;
  for (let round = 0; round < 5; round++) {
    await Promise.all(
      Array.from(
        { length: 50 },
        (_, k) =>
          new Promise<void>((resolve) => {
            const ws = new WebSocket(url, { rejectUnauthorized: false });
            ws.on('open', () => {
              for (let m = 0; m < 5; m++) {
                ws.send(garbage(round * 1000 + k * 5 + m));
                sent++;
              }
            });
            ws.on('message', () => received++);
            ws.on('close', (code) => {
              codes.set(code, (codes.get(code) ?? 0) + 1);
              resolve();
            });
            ws.on('error', () => {});
          }),
      ),
    );
  }
  assert.ok(sent >= 1000, `sent ${sent}`);
  assert.equal(received, 0, 'an unauthenticated socket never receives anything');
  for (const code of codes.keys())
    assert.ok(
      [CloseCode.protocolError, CloseCode.unauthorized, CloseCode.versionMismatch, 1006, 1009].includes(code as never),
      `unexpected close code ${code}`,
    );
  assert.ok((codes.get(CloseCode.protocolError) ?? 0) > 100);

  assert.equal((await s.api('GET', '/api/v1/health', undefined, null)).status, 200);
  assert.equal(
    good.messages.some((m) => m.type === 'welcome'),
    true,
  );
  const dev = (await s.api('POST', '/api/v1/devices', { agent_id: id.agent_id, ip: '10.30.0.1' })).body;
  const credId = await apiCredential(s, 'fz', { type: 'winrm_basic' });
  const mon = (
    await s.api('POST', '/api/v1/monitors', { device_id: dev.id, credential_profile_id: credId, plugin_id: 1 })
  ).body;
  await good.next('schedule.delta', (d) => d.upsert.some((a) => a.monitor_id === mon.id), 3000);
  good.send({
    type: 'results.batch',
    results: [
      {
        seq: 1,
        job_id: 'x',
        monitor_id: mon.id,
        time: new Date().toISOString(),
        attempts: 1,
        failure: { class: 'unreachable', message: 'test' },
      },
    ],
  });
  assert.deepEqual((await good.next('results.ack')).seqs, [1], 'the good agent is still served');
  const m = (await s.api('GET', `/api/v1/monitors/${mon.id}`)).body;
  assert.equal(m.last_error_class, 'unreachable');
  good.close();
});

test('a socket that never says hello is closed within the auth timeout; an oversized message is refused', async () => {
  const url = `wss://127.0.0.1:${s.port}/agent`;
  const t0 = Date.now();
  const code = await new Promise<number>((resolve) => {
    const ws = new WebSocket(url, { rejectUnauthorized: false });
    ws.on('close', (c) => resolve(c));
    ws.on('error', () => {});
  });
  assert.equal(code, CloseCode.authTimeout);
  assert.ok(Date.now() - t0 < 3000);
  const big = await new Promise<number>((resolve) => {
    const ws = new WebSocket(url, { rejectUnauthorized: false });
    ws.on('open', () => ws.send('x'.repeat(5 * 1024 * 1024)));
    ws.on('close', (c) => resolve(c));
    ws.on('error', () => {});
  });
  // Over MAX_MESSAGE_BYTES but within a frame the socket layer buffers: the session refuses it with a reason.
  assert.equal(big, CloseCode.tooLarge, `closed with ${big}`);
});

test('a hello with another protocol version is refused with the version-mismatch code', async () => {
  const url = `wss://127.0.0.1:${s.port}/agent`;
  const code = await new Promise<number>((resolve) => {
    const ws = new WebSocket(url, { rejectUnauthorized: false });
    ws.on('open', () =>
      ws.send(
        JSON.stringify({
          type: 'hello',
          protocol: 99,
          token: 'a.b.c',
          agent_version: '1',
          hostname: 'h',
          max_in_flight: 1,
          sent_at: 1,
        }),
      ),
    );
    ws.on('close', (c) => resolve(c));
    ws.on('error', () => {});
  });
  assert.equal(code, CloseCode.versionMismatch);
});
