import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { CloseCode, FATAL_CLOSE_CODES, PROTOCOL_VERSION } from '../../shared/protocol/index.ts';
import { AgentAuthError, type AuthenticatedAgent } from './agent-auth.ts';
import { AgentSession, type SessionHost } from './session.ts';

const logged: string[] = [];
const log = { info() {}, debug() {}, warn: (o: object, m: string) => logged.push(m + JSON.stringify(o)), error: (o: object, m: string) => logged.push(m + JSON.stringify(o)) };

/** A real WebSocket server whose sessions authenticate with `authenticate`; resolves with the close the agent sees. */
async function helloAgainst(authenticate: () => Promise<AuthenticatedAgent>): Promise<{ code: number; reason: string }> {
  const host: SessionHost = {
    log, heartbeatMs: 60_000, authTimeoutMs: 5_000, authenticate,
    register() {}, unregister() {}, presence() {}, results: async () => {}, other() {}, windowOpen() {},
  };
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (ws) => new AgentSession(ws, 'test', host));
  await new Promise((r) => wss.once('listening', r));
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    ws.on('open', () =>
      ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, token: 'x.y.z', agent_version: '1', hostname: 'h', max_in_flight: 1, sent_at: Date.now() })),
    );
    return await new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
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
  assert.ok(logged.some((l) => l.includes('could not be checked')), 'logged as a server error');
});

test('a bad token still closes with "unauthorized" and a disabled agent with "disabled"', async () => {
  assert.equal((await helloAgainst(async () => Promise.reject(new AgentAuthError('agent token signature or claims are invalid')))).code, CloseCode.unauthorized, 'bad token');
  assert.equal((await helloAgainst(async () => Promise.reject(new AgentAuthError('this agent is disabled', true)))).code, CloseCode.agentDisabled, 'disabled');
});

test('a session sends only the jobs whose room it claimed itself (jobs claimed by an earlier session of the agent come back unsent)', async () => {
  let session: AgentSession | undefined;
  const host: SessionHost = {
    log, heartbeatMs: 60_000, authTimeoutMs: 5_000, authenticate: async () => ({ id: 1, name: 'a', seal_public_key: 'k' }),
    register() {}, unregister() {}, presence() {}, results: async () => {}, other() {}, windowOpen() {},
  };
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (ws) => (session = new AgentSession(ws, 'test', host)));
  await new Promise((r) => wss.once('listening', r));
  const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  const received: { type: string; jobs?: { job_id: string }[] }[] = [];
  ws.on('message', (m) => received.push(JSON.parse(String(m))));
  ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, token: 'x.y.z', agent_version: '1', hostname: 'h', max_in_flight: 10, sent_at: Date.now() })));
  try {
    for (let t = 0; t < 100 && !received.some((m) => m.type === 'welcome'); t++) await new Promise((r) => setTimeout(r, 20));
    const job = (id: string) => ({ job_id: id, monitor_id: 1, deadline: Date.now() + 60_000, target: { ip: '10.0.0.1', port: 5985, use_ssl: false }, plugin: { type: 'windows-wmi', config: {} }, credential: null });
    assert.equal(session!.claim([job('a'), job('b')], 1000), 2, 'room claimed for two');
    const unsent = session!.sendClaimed([job('a'), job('b'), job('other-session')]);
    assert.deepEqual(unsent.map((j) => j.job_id), ['other-session'], 'the unclaimed job is not sent');
    for (let t = 0; t < 100 && !received.some((m) => m.type === 'jobs.dispatch'); t++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(received.find((m) => m.type === 'jobs.dispatch')?.jobs?.map((j) => j.job_id), ['a', 'b'], 'the claimed ones are');
  } finally {
    ws.close();
    wss.close();
  }
});
