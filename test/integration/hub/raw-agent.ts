import assert from 'node:assert/strict';
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

/** A credential profile `name` (user u; winrm_ntlm and password p unless told) through the API; its id. */
export async function apiCredential(
  s: TestServer,
  name: string,
  o: { type?: 'winrm_ntlm' | 'winrm_basic'; password?: string } = {},
): Promise<number> {
  const r = await s.api('POST', '/api/v1/credential-profiles', {
    name,
    type: o.type ?? 'winrm_ntlm',
    username: 'u',
    password: o.password ?? 'p',
  });
  if (!r.body?.id) throw new Error(`create credential profile: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id as number;
}

/** A device at `ip` for `agentId` with one enabled 60 s Windows monitor, through the API; its monitor id. */
export async function apiMonitor(s: TestServer, agentId: number, credentialId: number, ip: string): Promise<number> {
  const dev = (await s.api('POST', '/api/v1/devices', { agent_id: agentId, ip })).body;
  const mon = await s.api('POST', '/api/v1/monitors', {
    device_id: dev.id,
    credential_profile_id: credentialId,
    plugin_id: 1,
    polling_interval: 60,
  });
  if (!mon.body?.id) throw new Error(`create monitor: ${mon.status} ${JSON.stringify(mon.body)}`);
  return mon.body.id as number;
}

/**
 * The well-behaved agent of a flood test: enrolled as `name`, one monitor at `ip`, connected and holding
 * its full set. `storeOne()` sends one failure result (job `${jobPrefix}${n}`, a slot a day ago) and waits
 * `ackTimeoutMs` for its ack: the hub still serves this agent while another misbehaves.
 */
export async function storingAgent(
  s: TestServer,
  o: { name: string; credentialId: number; ip: string; jobPrefix: string; ackTimeoutMs?: number },
): Promise<{
  agent: RawAgent;
  monitorId: number;
  /** The time of result 0: result n is at base + n minutes. */
  base: number;
  storeOne(): Promise<void>;
  /** The time (ISO) of the last result storeOne sent. */
  lastStored(): string;
}> {
  const id = await enrollRaw(s, o.name);
  const monitorId = await apiMonitor(s, id.agent_id, o.credentialId, o.ip);
  const agent = await connectRaw(s, id);
  await agent.next('schedule.full', (m) => !m.more);
  const base = Date.now() - 86_400_000;
  let seq = 0;
  const storeOne = async (): Promise<void> => {
    const k = ++seq;
    const from = agent.messages.length;
    agent.send({
      type: 'results.batch',
      results: [
        {
          seq: k,
          job_id: `${o.jobPrefix}${k}`,
          monitor_id: monitorId,
          time: new Date(base + k * 60_000).toISOString(),
          attempts: 1,
          failure: { class: 'internal', message: 'x' },
        },
      ],
    });
    await agent.next('results.ack', (m) => m.seqs.includes(k), o.ackTimeoutMs ?? 10_000, from);
  };
  return { agent, monitorId, base, storeOne, lastStored: () => new Date(base + seq * 60_000).toISOString() };
}

/** This process's RSS sampled every 50 ms from now (after a GC when --expose-gc): `growth()` is the peak over the start. */
export function rssSampler(): { growth(): number; stop(): void } {
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  return { growth: () => peak - rss0, stop: () => clearInterval(timer) };
}

/**
 * Creates the discovery profile `profile` (asserts 201) and runs it (asserts 202); resolves once `agent`
 * got the discovery.start, with the profile id and the run id the agent reports under.
 */
export async function startRawDiscovery(
  s: TestServer,
  agent: RawAgent,
  profile: Record<string, unknown>,
): Promise<{ profileId: number; runId: string }> {
  const dp = await s.api('POST', '/api/v1/discovery-profiles', profile);
  assert.equal(dp.status, 201, JSON.stringify(dp.body));
  const started = await s.api('POST', `/api/v1/discovery-profiles/${dp.body.id}/run`);
  assert.equal(started.status, 202, JSON.stringify(started.body));
  const job = await agent.next('discovery.start');
  return { profileId: dp.body.id as number, runId: job.job.run_id };
}
