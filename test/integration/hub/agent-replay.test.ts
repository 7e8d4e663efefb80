import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { CloseCode, PROTOCOL_VERSION } from '../../../shared/protocol/index.ts';
import { startTestServer, type TestServer } from '../../helpers/server.ts';
import { enrollRaw, type RawIdentity } from './raw-agent.ts';

const SUBPROTOCOL = `nmslite-agent.${PROTOCOL_VERSION}`;
let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(() => s.stop());

interface Sock {
  ws: WebSocket;
  messages: Array<Record<string, any>>;
  closed: Promise<{ code: number; reason: string }>;
  next(type: string, timeoutMs?: number): Promise<Record<string, any> | undefined>;
}

async function dial(o: { subprotocol?: boolean } = {}): Promise<Sock> {
  const ws = new WebSocket(`wss://127.0.0.1:${s.port}/agent`, o.subprotocol === false ? [] : [SUBPROTOCOL], {
    rejectUnauthorized: false,
  });
  const messages: Array<Record<string, any>> = [];
  ws.on('error', () => {});
  ws.on('message', (raw) => {
    const m = JSON.parse(String(raw)) as Record<string, any>;
    messages.push(m);
    if (m.type === 'heartbeat')
      ws.send(JSON.stringify({ type: 'heartbeat.ack', echo: m.sent_at, agent_time: Date.now() }));
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const next = async (type: string, timeoutMs = 3000) => {
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      const m = messages.find((x) => x.type === type);
      if (m) return m;
      await new Promise((r) => setTimeout(r, 10));
    }
    return undefined;
  };
  return { ws, messages, closed, next };
}

function hello(
  id: RawIdentity,
  claims: Record<string, unknown>,
  o: { exp?: boolean; iatOffsetS?: number } = {},
): Promise<string> {
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA' })
    .setSubject(String(id.agent_id))
    .setAudience('nmslite-agent-hub')
    .setIssuedAt(Math.floor(Date.now() / 1000) + (o.iatOffsetS ?? 0));
  if (o.exp !== false) jwt = jwt.setExpirationTime('2m');
  return jwt.sign(createPrivateKey(id.sign_private_key)).then((token) =>
    JSON.stringify({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      token,
      agent_version: 'replay-test',
      hostname: 'h',
      max_in_flight: 1,
      sent_at: Date.now(),
      schedule_revision: null,
    }),
  );
}

/** The real agent: answers the server's challenge (if any) and is welcomed. */
async function realSession(id: RawIdentity): Promise<{ sock: Sock; captured: string }> {
  const sock = await dial();
  const challenge = await sock.next('challenge', 1000);
  const captured = await hello(id, challenge ? { nonce: challenge.nonce } : {});
  sock.ws.send(captured);
  assert.ok(
    await sock.next('welcome'),
    `the real agent is welcomed (got ${sock.messages.map((m) => m.type).join(', ')})`,
  );
  return { sock, captured };
}

test('a captured hello replayed on a second socket is refused and does not replace the real session', async () => {
  const id = await enrollRaw(s, 'replay-victim');
  const real = await realSession(id);
  for (const subprotocol of [true, false]) {
    const attacker = await dial({ subprotocol });
    if (subprotocol)
      assert.ok(await attacker.next('challenge', 1000), 'a socket offering the subprotocol is challenged');
    attacker.ws.send(real.captured);
    const closed = await Promise.race([
      attacker.closed,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 3000)),
    ]);
    assert.ok(closed, 'the replaying socket is closed');
    assert.ok(
      [CloseCode.unauthorized, CloseCode.protocolError].includes(closed.code as never),
      `closed with ${closed.code} ${closed.reason}`,
    );
    assert.equal(
      attacker.messages.find((m) => m.type === 'welcome'),
      undefined,
      'no welcome for the replay',
    );
  }
  const before = real.sock.messages.filter((m) => m.type === 'heartbeat').length;
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(
    real.sock.messages.filter((m) => m.type === 'heartbeat').length > before,
    'the real session is still served',
  );
  assert.equal(real.sock.ws.readyState, WebSocket.OPEN, 'the real session was not replaced');
  real.sock.ws.close();
});

test('a hello signed for another challenge, or for none, is refused on a challenged socket', async () => {
  const id = await enrollRaw(s, 'replay-nonce');
  for (const claims of [{ nonce: 'A'.repeat(43) }, {}]) {
    const sock = await dial();
    assert.ok(await sock.next('challenge', 1000));
    sock.ws.send(await hello(id, claims));
    const closed = await sock.closed;
    assert.equal(closed.code, CloseCode.unauthorized, JSON.stringify(claims));
  }
});

test('the challenge does not depend on the agent clock: a token whose iat is two days off is accepted', async () => {
  const id = await enrollRaw(s, 'replay-skewed');
  const sock = await dial();
  const challenge = await sock.next('challenge', 1000);
  assert.ok(challenge);
  sock.ws.send(await hello(id, { nonce: challenge.nonce }, { exp: false, iatOffsetS: -2 * 86400 }));
  assert.ok(await sock.next('welcome'), `welcomed (got ${sock.messages.map((m) => m.type).join(', ')})`);
  sock.ws.close();
});

test('an agent of the previous protocol (no subprotocol, hello at once) is told to upgrade', async () => {
  const id = await enrollRaw(s, 'replay-old');
  const sock = await dial({ subprotocol: false });
  const old = JSON.parse(await hello(id, {}));
  sock.ws.send(JSON.stringify({ ...old, protocol: 2 }));
  const closed = await sock.closed;
  assert.equal(closed.code, CloseCode.versionMismatch);
  assert.match(closed.reason, /upgrade the agent/);
  assert.equal(sock.messages.length, 0, 'nothing was sent to it, not even a challenge');
});
