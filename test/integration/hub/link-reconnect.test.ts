import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { generateAgentKeys, type AgentIdentity } from '../../../agent/identity.ts';
import { createLink, type Link, type SpooledResult } from '../../../agent/link/client.ts';
import { DIRECT } from '../../../agent/link/proxy.ts';
import { createMemorySpool } from '../../../agent/spool/memory-spool.ts';
import { PROTOCOL_VERSION } from '../../../shared/protocol/index.ts';
import { selfSignedCert } from '../../winsim/tls-cert.ts';

// A fake server the agent's pinned TLS accepts, whose behaviour after the upgrade each test sets.
let server: Server;
let wss: WebSocketServer;
let onSocket: (ws: WebSocket) => void = () => {};
let connections = 0;
let identity: AgentIdentity;
before(async () => {
  const cert = await selfSignedCert();
  server = createServer({ cert: cert.cert, key: cert.key });
  wss = new WebSocketServer({ server, path: '/agent' });
  wss.on('connection', (ws) => {
    connections++;
    ws.on('error', () => {});
    ws.send(JSON.stringify({ type: 'challenge', nonce: 'n'.repeat(43) }));
    onSocket(ws);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  identity = {
    agent_id: 9,
    name: 'x',
    server: `wss://127.0.0.1:${port}`,
    server_fingerprint: cert.fingerprint.replace(/:/g, '').toLowerCase(),
    ...generateAgentKeys(),
    enrolled_at: new Date().toISOString(),
  };
});
after(async () => {
  for (const c of wss.clients) c.terminate();
  await new Promise<void>((r) => wss.close(() => r()));
  await new Promise<void>((r) => server.close(() => r()));
});

const quiet = { info() {}, warn() {}, error() {}, debug() {} };
function link(connectTimeoutMs: number): Link {
  return createLink({
    identity,
    spool: createMemorySpool<SpooledResult>(),
    log: quiet,
    proxy: DIRECT,
    hostname: 't',
    maxInFlight: 5,
    health: () => ({ spool_backlog: 0, jobs_in_flight: 0, job_lateness_ms: 0, errors: {} }),
    backoff: { baseMs: 100, capMs: 2000 },
    connectTimeoutMs,
  });
}

test('a server that accepts the socket but never welcomes is left after the connect timeout and dialled again', async () => {
  connections = 0;
  onSocket = () => {}; // silence after the upgrade
  const l = link(800);
  l.start();
  await new Promise((r) => setTimeout(r, 2500));
  await l.stop();
  assert.ok(connections >= 2, `reconnected after the silent server (${connections} connections)`);
});

test('a server that welcomes and closes at once gets backed off, not hammered', async () => {
  connections = 0;
  onSocket = (ws) => {
    ws.once('message', (raw) => {
      const hello = JSON.parse(String(raw)) as { sent_at: number };
      ws.send(
        JSON.stringify({
          type: 'welcome',
          agent_id: 9,
          protocol: PROTOCOL_VERSION,
          server_time: Date.now(),
          echo: hello.sent_at,
          heartbeat_ms: 60_000,
        }),
      );
      ws.close(1011, 'results could not be stored; resend');
    });
  };
  const l = link(5000);
  l.start();
  await new Promise((r) => setTimeout(r, 3000));
  await l.stop();
  // Growing delays (0-100, 0-200, 0-400 ... ms) allow ~7 in 3 s; reset on every welcome it is ~60.
  assert.ok(connections >= 2 && connections <= 15, `${connections} connections in 3 s`);
});
