import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import { after, before, test } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { generateAgentKeys, type AgentIdentity } from '../../../agent/identity.ts';
import { createLink, type Link, type SpooledResult } from '../../../agent/link/client.ts';
import { DIRECT } from '../../../agent/link/proxy.ts';
import { createMemorySpool } from '../../../agent/spool/memory-spool.ts';
import { CloseCode, PROTOCOL_VERSION } from '../../../shared/protocol/index.ts';
import { waitFor } from '../../helpers/agent-process.ts';
import { selfSignedCert } from '../../winsim/tls-cert.ts';

// The link against a scripted server that breaks the protocol's order of messages.

type Msg = Record<string, any>;
let cert: { cert: string; key: string; fingerprint: string };
before(async () => {
  cert = await selfSignedCert();
});
const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function scripted(onHello: (ws: WebSocket, hello: Msg) => void) {
  const server: Server = createServer({ cert: cert.cert, key: cert.key });
  const wss = new WebSocketServer({ server, path: '/agent' });
  const received: Msg[] = [];
  const closes: { code: number; reason: string }[] = [];
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.send(JSON.stringify({ type: 'challenge', nonce: 'n'.repeat(43) }));
    ws.on('close', (code, reason) => void closes.push({ code, reason: String(reason) }));
    ws.on('message', (raw) => {
      const m = JSON.parse(String(raw)) as Msg;
      received.push(m);
      if (m.type === 'hello') onHello(ws, m);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  cleanup.push(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port, received, closes };
}

function link(port: number, extra: Partial<Parameters<typeof createLink>[0]> = {}): { link: Link; logs: string[] } {
  const identity: AgentIdentity = {
    agent_id: 3,
    name: 'p',
    server: `wss://127.0.0.1:${port}`,
    server_fingerprint: cert.fingerprint.replace(/:/g, '').toLowerCase(),
    ...generateAgentKeys(),
    enrolled_at: new Date().toISOString(),
  };
  const logs: string[] = [];
  const rec = (o: object, m: string) => void logs.push(`${m} ${JSON.stringify(o)}`);
  const l = createLink({
    identity,
    spool: createMemorySpool<SpooledResult>(),
    log: { info: rec, warn: rec, error: rec, debug() {} },
    proxy: DIRECT,
    hostname: 't',
    maxInFlight: 5,
    health: () => ({ spool_backlog: 0, jobs_in_flight: 0, job_lateness_ms: 0, errors: {} }),
    backoff: { baseMs: 5000, capMs: 5000 },
    ...extra,
  });
  cleanup.push(() => l.stop());
  l.start();
  return { link: l, logs };
}

const welcome = (hello: Msg) =>
  JSON.stringify({
    type: 'welcome',
    agent_id: 3,
    protocol: PROTOCOL_VERSION,
    server_time: Date.now(),
    echo: hello.sent_at,
    heartbeat_ms: 200,
  });

test('a second welcome on one session is a protocol error: the link closes instead of running two heartbeat timers', async () => {
  const srv = await scripted((ws, hello) => {
    ws.send(welcome(hello));
    setTimeout(() => ws.send(welcome(hello)), 100);
  });
  const { logs } = link(srv.port);
  await waitFor('the close', async () => srv.closes.length > 0, 5000, 20);
  assert.equal(srv.closes[0]!.code, CloseCode.protocolError);
  assert.match(srv.closes[0]!.reason, /second welcome/);
  assert.ok(
    logs.some((l) => /broke the protocol/.test(l)),
    logs.join('\n'),
  );
  const beats = srv.received.filter((m) => m.type === 'heartbeat').length;
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(srv.received.filter((m) => m.type === 'heartbeat').length, beats, 'no heartbeat after the close');
});

test('a schedule sent before the welcome is refused, not applied', async () => {
  let applied = 0;
  const srv = await scripted((ws) => {
    ws.send(JSON.stringify({ type: 'schedule.full', revision: 4, assignments: [], credentials: [], more: false }));
  });
  link(srv.port, { onScheduleFull: () => void applied++ });
  await waitFor('the close', async () => srv.closes.length > 0, 5000, 20);
  assert.equal(srv.closes[0]!.code, CloseCode.protocolError);
  assert.match(srv.closes[0]!.reason, /schedule\.full before the welcome/);
  assert.equal(applied, 0);
});

test('results whose batch would exceed the largest message travel in several batches, and all are acknowledged', async () => {
  const { MAX_MESSAGE_BYTES } = await import('../../../shared/protocol/index.ts');
  const server: Server = createServer({ cert: cert.cert, key: cert.key });
  // As the real hub: a message over the limit closes the socket (1009).
  const wss = new WebSocketServer({ server, path: '/agent', maxPayload: MAX_MESSAGE_BYTES });
  const batches: number[] = [];
  const closes: number[] = [];
  const got = new Set<number>();
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.send(JSON.stringify({ type: 'challenge', nonce: 'n'.repeat(43) }));
    ws.on('close', (code) => void closes.push(code));
    ws.on('message', (raw: Buffer) => {
      const m = JSON.parse(String(raw)) as Msg;
      if (m.type === 'hello') ws.send(welcome(m));
      if (m.type === 'results.batch') {
        batches.push(raw.length);
        for (const r of m.results) got.add(r.seq);
        ws.send(JSON.stringify({ type: 'results.ack', seqs: m.results.map((r: Msg) => r.seq) }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  });
  const spool = createMemorySpool<SpooledResult>();
  // 2,000 control characters escape to 12,000 bytes: 500 such results make a 6 MB batch.
  const message = '\u0001'.repeat(2000);
  await spool.append(
    Array.from({ length: 500 }, (_, i) => ({
      job_id: `${i + 1}-0`,
      monitor_id: i + 1,
      time: new Date(0).toISOString(),
      attempts: 1,
      failure: { class: 'winrm_fault' as const, message },
    })),
  );
  link((server.address() as { port: number }).port, { spool });
  await waitFor('every result delivered', async () => got.size === 500, 10_000, 20);
  assert.deepEqual(closes, [], 'the server never closed the link');
  assert.ok(
    batches.length >= 2 && batches.every((n) => n <= MAX_MESSAGE_BYTES),
    `batches of ${batches.join(', ')} bytes`,
  );
  await waitFor('all acknowledged', async () => spool.stats().backlog === 0, 5000, 20);
});
