import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { AGENT_SUBPROTOCOL, CloseCode, FATAL_CLOSE_CODES, PROTOCOL_VERSION } from '../../shared/protocol/index.ts';
import { AgentAuthError, type AuthenticatedAgent } from './agent-auth.ts';
import type { AgentHandlers } from './handlers/handler.ts';
import { AgentSession, type SessionHost } from './session.ts';
import { parseConfig } from '../config.ts';

const logged: string[] = [];
const log = {
  info() {},
  debug() {},
  warn: (o: object, m: string) => logged.push(m + JSON.stringify(o)),
  error: (o: object, m: string) => logged.push(m + JSON.stringify(o)),
};
const none = async () => {};
/** Says hello once the server's challenge arrives; the token only carries the nonce (these hosts do not check signatures). */
function helloOnChallenge(ws: WebSocket, maxInFlight = 1): void {
  ws.on('message', (raw) => {
    const m = JSON.parse(String(raw)) as { type: string; nonce?: string };
    if (m.type !== 'challenge') return;
    const token = `${Buffer.from('{"alg":"EdDSA"}').toString('base64url')}.${Buffer.from(JSON.stringify({ nonce: m.nonce })).toString('base64url')}.c2ln`;
    ws.send(
      JSON.stringify({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        token,
        agent_version: '1',
        hostname: 'h',
        max_in_flight: maxInFlight,
        sent_at: Date.now(),
      }),
    );
  });
}
const handlers: AgentHandlers = {
  'results.batch': none,
  'schedule.ack': none,
  'schedule.resync': none,
  'poll.result': none,
  'discovery.progress': none,
  'discovery.result': none,
};

/** A real WebSocket server whose sessions authenticate with `authenticate`; resolves with the close the agent sees. */
async function helloAgainst(
  authenticate: () => Promise<AuthenticatedAgent>,
): Promise<{ code: number; reason: string }> {
  const host: SessionHost = {
    log,
    heartbeatMs: 60_000,
    maxUnsentBytes: parseConfig({}).agents.max_unsent_mb * 1024 * 1024,
    authTimeoutMs: 5_000,
    authenticate,
    handlers,
    welcomed() {},
    closed() {},
    heartbeat() {},
  };
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (ws) => new AgentSession(ws, 'test', host));
  await new Promise((r) => wss.once('listening', r));
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, [AGENT_SUBPROTOCOL]);
    helloOnChallenge(ws);
    return await new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  } finally {
    wss.close();
  }
}

test('a database failure while checking an agent token closes with a retryable code, not "unauthorized"', async () => {
  const closed = await helloAgainst(async () => {
    throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
  });
  assert.equal(closed.code, CloseCode.serverError, 'server error code');
  assert.ok(!FATAL_CLOSE_CODES.has(closed.code), 'the agent will reconnect, not exit');
  assert.ok(
    logged.some((l) => l.includes('could not be checked')),
    'logged as a server error',
  );
});

test('a bad token still closes with "unauthorized" and a disabled agent with "disabled"', async () => {
  assert.equal(
    (await helloAgainst(async () => Promise.reject(new AgentAuthError('agent token signature or claims are invalid'))))
      .code,
    CloseCode.unauthorized,
    'bad token',
  );
  assert.equal(
    (await helloAgainst(async () => Promise.reject(new AgentAuthError('this agent is disabled', true)))).code,
    CloseCode.agentDisabled,
    'disabled',
  );
});

test('messages go to the handler of their type; a handler that fails closes the session with a retryable code', async () => {
  const seen: string[] = [];
  const host: SessionHost = {
    log,
    heartbeatMs: 60_000,
    maxUnsentBytes: parseConfig({}).agents.max_unsent_mb * 1024 * 1024,
    authTimeoutMs: 5_000,
    authenticate: async () => ({ id: 1, name: 'a', seal_public_key: 'k' }),
    handlers: {
      ...handlers,
      'schedule.ack': (ctx, m) => void seen.push(`ack ${ctx.agentId} ${m.revision}`),
      'schedule.resync': async () => Promise.reject(new Error('boom')),
    },
    welcomed() {},
    closed() {},
    heartbeat() {},
  };
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (ws) => new AgentSession(ws, 'test', host));
  await new Promise((r) => wss.once('listening', r));
  const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, [AGENT_SUBPROTOCOL]);
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('message', (raw) => {
    if (JSON.parse(String(raw)).type !== 'welcome') return;
    ws.send(JSON.stringify({ type: 'schedule.ack', revision: 7 }));
    ws.send(JSON.stringify({ type: 'schedule.resync', have: 7, reason: 'gap' }));
  });
  helloOnChallenge(ws, 10);
  try {
    assert.equal(await closed, CloseCode.serverError);
    assert.deepEqual(seen, ['ack 1 7']);
  } finally {
    wss.close();
  }
});
