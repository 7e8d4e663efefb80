import { createPrivateKey } from 'node:crypto';
import { compactDecrypt, SignJWT } from 'jose';
import WebSocket from 'ws';
import { generateAgentKeys, type AgentKeys } from '../../../agent/identity.ts';
import { parseServerMessage, PROTOCOL_VERSION, type ServerMessage } from '../../../shared/protocol/index.ts';
import type { TestServer } from '../../helpers/server.ts';

/** An enrolled agent identity made over the real API (no agent code involved). */
export interface RawIdentity extends AgentKeys {
  agent_id: number;
}

export async function enrollRaw(s: TestServer, name: string): Promise<RawIdentity> {
  const created = await s.api('POST', '/api/v1/agents', { name });
  if (created.status !== 201) throw new Error(`creating agent ${name}: ${created.status}`);
  const keys = generateAgentKeys();
  const r = await s.api(
    'POST',
    '/api/v1/agents/enroll',
    {
      token: created.body.enrollment_token,
      sign_public_key: keys.sign_public_key,
      seal_public_key: keys.seal_public_key,
    },
    null,
  );
  if (r.status !== 200) throw new Error(`enrolling ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  return { agent_id: r.body.agent_id, ...keys };
}

export interface RawAgent {
  /** Every message the server sent, parsed, in order. */
  readonly messages: ServerMessage[];
  send(msg: unknown): void;
  /** Bytes sent but not yet handed to the network (grows when the server stops reading). */
  bufferedAmount(): number;
  /** Stops reading the socket (what the server sends piles up in the kernel, then in the server); resumeReading undoes it. */
  pauseReading(): void;
  resumeReading(): void;
  /** Resolves with the first message (at index >= `from`) that matches. */
  next<T extends ServerMessage['type']>(
    type: T,
    pred?: (m: Extract<ServerMessage, { type: T }>) => boolean,
    timeoutMs?: number,
    from?: number,
  ): Promise<Extract<ServerMessage, { type: T }>>;
  /** The assignments the agent would hold after applying everything received so far (full sets and deltas in order). */
  held(): Map<number, Extract<ServerMessage, { type: 'schedule.full' }>['assignments'][number]>;
  revision(): number | null;
  unseal(sealed: string): Promise<Record<string, unknown>>;
  close(): void;
  readonly closed: Promise<{ code: number; reason: string }>;
}

/**
 * A protocol-level test agent: dials the hub, says hello (this protocol unless told otherwise),
 * answers heartbeats and records what the server sends. It never acknowledges a schedule by itself.
 */
export async function connectRaw(
  s: TestServer,
  id: RawIdentity,
  o: { protocol?: number; waitWelcome?: boolean } = {},
): Promise<RawAgent> {
  // An agent of protocol 3 or later offers the subprotocol and signs the server's challenge; an older one says hello at once.
  const protocol = o.protocol ?? PROTOCOL_VERSION;
  const ws = new WebSocket(`wss://127.0.0.1:${s.port}/agent`, protocol >= 3 ? [`nmslite-agent.${protocol}`] : [], {
    rejectUnauthorized: false,
  });
  const messages: ServerMessage[] = [];
  const waiters = new Set<() => void>();
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  ws.on('error', () => {});
  ws.on('message', (raw) => {
    const p = parseServerMessage(String(raw));
    if (!p.ok) throw new Error(`the server sent an invalid message: ${p.reason}`);
    messages.push(p.message);
    if (p.message.type === 'heartbeat')
      ws.send(JSON.stringify({ type: 'heartbeat.ack', echo: p.message.sent_at, agent_time: Date.now() }));
    for (const w of waiters) w();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const challenge =
    protocol >= 3
      ? await new Promise<string>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no challenge from the server')), 5000);
          const check = () => {
            const m = messages.find((x) => x.type === 'challenge');
            if (m && m.type === 'challenge') {
              clearTimeout(t);
              waiters.delete(check);
              resolve(m.nonce);
            }
          };
          waiters.add(check);
          check();
        })
      : undefined;
  const token = await new SignJWT(challenge ? { nonce: challenge } : {})
    .setProtectedHeader({ alg: 'EdDSA' })
    .setSubject(String(id.agent_id))
    .setAudience('nmslite-agent-hub')
    .setIssuedAt()
    .setExpirationTime('2m')
    .sign(createPrivateKey(id.sign_private_key));
  ws.send(
    JSON.stringify({
      type: 'hello',
      protocol,
      token,
      agent_version: 'raw-test',
      hostname: 'raw',
      max_in_flight: 1,
      sent_at: Date.now(),
      schedule_revision: null,
    }),
  );

  const agent: RawAgent = {
    messages,
    send: (msg) => ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg)),
    bufferedAmount: () => ws.bufferedAmount,
    pauseReading: () => ws.pause(),
    resumeReading: () => ws.resume(),
    next(type, pred, timeoutMs = 5000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (let i = from; i < messages.length; i++) {
            const m = messages[i]!;
            if (m.type === type && (!pred || pred(m as never))) {
              waiters.delete(check);
              clearTimeout(timer);
              resolve(m as never);
              return;
            }
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${type} within ${timeoutMs} ms (got ${messages.map((m) => m.type).join(', ')})`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    held() {
      let held = new Map<number, Extract<ServerMessage, { type: 'schedule.full' }>['assignments'][number]>();
      let building: typeof held | undefined;
      for (const m of messages) {
        if (m.type === 'schedule.full') {
          building ??= new Map();
          for (const a of m.assignments) building.set(a.monitor_id, a);
          if (!m.more) {
            held = building;
            building = undefined;
          }
        } else if (m.type === 'schedule.delta') {
          for (const id of m.remove) held.delete(id);
          for (const a of m.upsert) held.set(a.monitor_id, a);
        }
      }
      return held;
    },
    revision() {
      let r: number | null = null;
      for (const m of messages)
        if ((m.type === 'schedule.full' && !m.more) || m.type === 'schedule.delta') r = m.revision;
      return r;
    },
    async unseal(sealed) {
      const { plaintext } = await compactDecrypt(sealed, createPrivateKey(id.seal_private_key));
      return JSON.parse(new TextDecoder().decode(plaintext)) as Record<string, unknown>;
    },
    close: () => ws.close(),
    closed,
  };
  if (o.waitWelcome !== false && (o.protocol ?? PROTOCOL_VERSION) === PROTOCOL_VERSION) await agent.next('welcome');
  return agent;
}
