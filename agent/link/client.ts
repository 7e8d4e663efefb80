import { SignJWT } from 'jose';
import WebSocket from 'ws';
import type { TLSSocket } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import {
  AGENT_SUBPROTOCOL,
  CloseCode,
  FATAL_CLOSE_CODES,
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  parseServerMessage,
  type AgentHealth,
  type AgentMessage,
  type DiscoveryJob,
  type ResultItem,
  type ServerMessage,
} from '../../shared/protocol/index.ts';
import type { ProxySettings } from '../config.ts';
import { signingKey, type AgentIdentity } from '../identity.ts';
import type { Spool } from '../spool/spool.ts';
import { AGENT_VERSION } from '../version.ts';
import { backoffDelay, parseRetryAfter } from './backoff.ts';
import { PinMismatchError, peerFingerprint } from './pinned-tls.ts';
import { connectThroughProxy, proxyFor } from './proxy.ts';

export type ScheduleFull = Extract<ServerMessage, { type: 'schedule.full' }>;
export type ScheduleDelta = Extract<ServerMessage, { type: 'schedule.delta' }>;
export type PollNow = Extract<ServerMessage, { type: 'poll.now' }>;
export type PollResult = Extract<AgentMessage, { type: 'poll.result' }>;

/** A spooled result: everything but the sequence number, which the spool assigns. */
type WithoutSeq<T> = T extends unknown ? Omit<T, 'seq'> : never;
export type SpooledResult = WithoutSeq<ResultItem>;

export interface LinkLog {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
  debug(o: object, msg: string): void;
}

export interface LinkOptions {
  identity: AgentIdentity;
  spool: Spool<SpooledResult>;
  log: LinkLog;
  /** HTTPS_PROXY / NO_PROXY as parsed by config.ts (DIRECT: none). */
  proxy: ProxySettings;
  hostname: string;
  maxInFlight: number;
  health: () => AgentHealth;
  /** The schedule revision the agent holds, sent in the hello (null: none). */
  scheduleRevision?: () => number | null;
  /** The clock offset to use until the first measurement (the last one persisted). */
  initialOffsetMs?: number;
  onScheduleFull?: (m: ScheduleFull) => void;
  onScheduleDelta?: (m: ScheduleDelta) => void;
  onPollNow?: (m: PollNow) => void;
  /** The server welcomed this agent (the offset was just measured). */
  onUp?: () => void;
  /** A welcomed session ended (not called by stop()). */
  onDown?: () => void;
  /** The clock offset was measured again (welcome, heartbeat acks). */
  onOffset?: (offsetMs: number) => void;
  onDiscoveryStart?: (job: DiscoveryJob) => void;
  onDiscoveryCancel?: (runId: string) => void;
  onInvalidate?: (profileId: number) => void;
  /** A close the agent cannot recover from by itself (revoked, disabled, certificate changed). */
  onFatal?: (reason: string) => void;
  backoff?: { baseMs: number; capMs: number };
  /** Results per results.batch message, and batches awaiting ack at once. */
  batchSize?: number;
  batchesInFlight?: number;
  connectTimeoutMs?: number;
}

export interface Link {
  start(): void;
  stop(): Promise<void>;
  /** Sends when connected; returns false (and drops the message) otherwise. */
  send(msg: AgentMessage): boolean;
  /** Server clock minus agent clock, in ms (0 until measured). */
  offsetMs(): number;
  connected(): boolean;
  /** Tells the link new results are in the spool. */
  kick(): void;
  stats(): { connects: number; disconnects: number; lastClose?: { code: number; reason: string } };
}

export function createLink(o: LinkOptions): Link {
  const batchSize = o.batchSize ?? 500;
  const batchesInFlight = o.batchesInFlight ?? 4;
  const backoff = o.backoff ?? { baseMs: 500, capMs: 30_000 };
  const key = signingKey(o.identity);
  const url = new URL('/agent', o.identity.server.replace(/^https:/, 'wss:'));
  let ws: WebSocket | undefined;
  let stopped = true;
  let isUp = false;
  let attempt = 0;
  /** When the current session was welcomed (0 while not up). */
  let upSince = 0;
  let retryAfterMs: number | undefined;
  let offset = o.initialOffsetMs ?? 0;
  let heartbeatMs = 10_000;
  let lastHeard = 0;
  let hbTimer: NodeJS.Timeout | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let outstanding = 0;
  let draining = false;
  const stats = { connects: 0, disconnects: 0 } as ReturnType<Link['stats']>;

  const sendRaw = (msg: AgentMessage): boolean => {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(msg));
    return true;
  };

  /**
   * Sends results as one results.batch, or as several if one would exceed MAX_MESSAGE_BYTES (long
   * failure messages full of escaped characters): the server closes on a message over it, and the
   * same batch would be sent again after every reconnect. Returns the messages sent (0: not connected).
   */
  function sendBatch(results: ResultItem[]): number {
    const text = JSON.stringify({ type: 'results.batch', results });
    if (results.length > 1 && text.length > MAX_MESSAGE_BYTES / 4 && Buffer.byteLength(text) > MAX_MESSAGE_BYTES) {
      const half = Math.ceil(results.length / 2);
      const a = sendBatch(results.slice(0, half));
      return a === 0 ? 0 : a + sendBatch(results.slice(half));
    }
    if (!ws || ws.readyState !== WebSocket.OPEN) return 0;
    ws.send(text);
    return 1;
  }

  async function drain(): Promise<void> {
    if (draining) return;
    draining = true;
    try {
      while (isUp && outstanding < batchesInFlight) {
        const records = await o.spool.next(batchSize);
        if (!records.length) break;
        const results = records.map((r) => ({ ...r.data, seq: r.seq }) as ResultItem);
        const sent = sendBatch(results);
        if (sent === 0) break;
        outstanding += sent;
      }
    } catch (err) {
      o.log.error({ err: (err as Error).message }, 'reading the spool failed');
    } finally {
      draining = false;
    }
  }

  function scheduleReconnect(): void {
    if (stopped || reconnectTimer) return;
    const delay = backoffDelay(attempt++, { ...backoff, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
    retryAfterMs = undefined;
    o.log.info({ delay_ms: delay, attempt }, 'reconnecting');
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      connect();
    }, delay);
  }

  function down(code: number, reason: string): void {
    const wasUp = isUp;
    // Backoff starts over only after a session that lasted: a server that welcomes and then
    // closes at once (its database is read-only, two agents share an identity) is not hammered.
    if (wasUp && Date.now() - upSince >= heartbeatMs) attempt = 0;
    upSince = 0;
    isUp = false;
    outstanding = 0;
    if (hbTimer) clearInterval(hbTimer);
    hbTimer = undefined;
    ws = undefined;
    if (wasUp) stats.disconnects++;
    stats.lastClose = { code, reason };
    if (wasUp) o.onDown?.();
    if (code === CloseCode.versionMismatch) {
      o.log.error(
        { code, reason, agent_version: AGENT_VERSION, protocol: PROTOCOL_VERSION },
        `the server speaks another protocol: this agent (version ${AGENT_VERSION}, protocol ${PROTOCOL_VERSION}) must be upgraded to the server's version`,
      );
      stopped = true;
      o.onFatal?.(
        `this agent (version ${AGENT_VERSION}, protocol ${PROTOCOL_VERSION}) must be upgraded to the server's version${reason ? ` (server: ${reason})` : ''}`,
      );
      return;
    }
    if (FATAL_CLOSE_CODES.has(code)) {
      o.log.error({ code, reason }, 'the server refused this agent; not reconnecting');
      stopped = true;
      o.onFatal?.(reason || `closed with code ${code}`);
      return;
    }
    if (code === CloseCode.serverBusy) retryAfterMs = parseRetryAfter(reason) ?? 5000;
    scheduleReconnect();
  }

  function connect(): void {
    if (stopped) return;
    const proxy = proxyFor(url, o.proxy);
    const timeoutMs = o.connectTimeoutMs ?? 10_000;
    const sock = new WebSocket(url, [AGENT_SUBPROTOCOL], {
      rejectUnauthorized: false,
      handshakeTimeout: timeoutMs,
      maxPayload: MAX_MESSAGE_BYTES,
      perMessageDeflate: false,
      ...(proxy
        ? {
            createConnection: ((_opts: unknown, cb: (err: Error | null, s?: TLSSocket) => void) => {
              connectThroughProxy(proxy, url.hostname, Number(url.port || 443), timeoutMs).then(
                (s) => cb(null, s),
                (e: Error) => cb(e),
              );
              return undefined;
            }) as never,
          }
        : {}),
    });
    ws = sock;
    let helloAt = 0;
    let failed = false;
    let challenged = false;
    sock.on('upgrade', (res: IncomingMessage) => {
      const fp = peerFingerprint(res.socket as TLSSocket);
      if (fp !== o.identity.server_fingerprint) {
        failed = true;
        const err = new PinMismatchError(o.identity.server_fingerprint, fp);
        o.log.error({}, err.message);
        sock.terminate();
        stopped = true;
        o.onFatal?.(err.message);
      }
    });
    sock.on('unexpected-response', (_req, res: IncomingMessage) => {
      retryAfterMs = parseRetryAfter(res.headers['retry-after'] as string | undefined);
      o.log.warn({ status: res.statusCode, retry_after_ms: retryAfterMs }, 'the server refused the connection');
      res.resume();
      failed = true;
      sock.terminate();
      down(
        res.statusCode === 503 ? CloseCode.serverBusy : CloseCode.goingAway,
        retryAfterMs !== undefined ? `retry-after=${retryAfterMs / 1000}` : '',
      );
    });
    // The upgrade's timeout ends at 'open'; a server (or proxy) that then says nothing would
    // hold this socket forever, since heartbeats start with the welcome.
    let welcomeTimer: NodeJS.Timeout | undefined;
    sock.on('open', () => {
      if (failed) return;
      welcomeTimer = setTimeout(() => {
        o.log.warn(
          { waited_ms: timeoutMs, challenged },
          `no ${challenged ? 'welcome' : 'challenge'} from the server (one older than protocol ${PROTOCOL_VERSION} sends no challenge); reconnecting`,
        );
        sock.terminate();
      }, timeoutMs);
    });
    // The hello answers the server's challenge: its token signs the nonce, so it is worthless on any
    // other socket. No expiry: freshness comes from the nonce, not from this machine's clock.
    const sendHello = async (nonce: string): Promise<void> => {
      try {
        const token = await new SignJWT({ nonce })
          .setProtectedHeader({ alg: 'EdDSA' })
          .setSubject(String(o.identity.agent_id))
          .setAudience('nmslite-agent-hub')
          .setIssuedAt()
          .sign(key);
        if (failed || ws !== sock) return;
        helloAt = Date.now();
        sendRaw({
          type: 'hello',
          protocol: PROTOCOL_VERSION,
          token,
          agent_version: AGENT_VERSION,
          hostname: o.hostname,
          // Ignored by the server, but protocol-3 servers built before 2026-12-04 22:19 UTC require it (8fcf369).
          max_in_flight: o.maxInFlight,
          sent_at: helloAt,
          schedule_revision: o.scheduleRevision?.() ?? null,
        });
      } catch (err) {
        o.log.error({ err: (err as Error).message }, 'cannot sign the agent token');
        sock.terminate();
      }
    };
    sock.on('message', (data: Buffer, isBinary: boolean) => {
      lastHeard = Date.now();
      const parsed = parseServerMessage(isBinary ? data : data.toString('utf8'));
      if (!parsed.ok) {
        o.log.warn({ reason: parsed.reason }, 'invalid message from the server; reconnecting');
        sock.close(CloseCode.protocolError, parsed.reason.slice(0, 100));
        return;
      }
      const m = parsed.message;
      if (m.type === 'challenge') {
        if (challenged || isUp) {
          o.log.warn({}, 'the server sent a second challenge; reconnecting');
          sock.close(CloseCode.protocolError, 'a second challenge');
          return;
        }
        challenged = true;
        void sendHello(m.nonce);
        return;
      }
      // The server says welcome once, first: a second one would start a second heartbeat timer,
      // and anything before it comes from a peer that has not accepted this agent.
      if ((m.type === 'welcome') === isUp) {
        const reason = isUp ? 'a second welcome on one session' : `${m.type} before the welcome`;
        o.log.warn({ reason }, 'the server broke the protocol; reconnecting');
        sock.close(CloseCode.protocolError, reason);
        return;
      }
      switch (m.type) {
        case 'welcome': {
          const now = Date.now();
          offset = Math.round(m.server_time - (helloAt + (now - helloAt) / 2));
          heartbeatMs = m.heartbeat_ms;
          isUp = true;
          upSince = now;
          clearTimeout(welcomeTimer);
          stats.connects++;
          o.log.info({ agent_id: m.agent_id, clock_offset_ms: offset }, 'connected to the server');
          o.onOffset?.(offset);
          o.onUp?.();
          o.spool.rewind();
          hbTimer = setInterval(() => {
            if (Date.now() - lastHeard > 2 * heartbeatMs) {
              o.log.warn({ silent_ms: Date.now() - lastHeard }, 'the server stopped answering; reconnecting');
              sock.terminate();
              return;
            }
            sendRaw({ type: 'heartbeat', sent_at: Date.now(), health: o.health() });
          }, heartbeatMs);
          void drain();
          break;
        }
        case 'heartbeat':
          sendRaw({ type: 'heartbeat.ack', echo: m.sent_at, agent_time: Date.now() });
          break;
        case 'heartbeat.ack': {
          const now = Date.now();
          offset = Math.round(m.server_time - (m.echo + (now - m.echo) / 2));
          o.onOffset?.(offset);
          break;
        }
        case 'schedule.full':
          o.onScheduleFull?.(m);
          break;
        case 'schedule.delta':
          o.onScheduleDelta?.(m);
          break;
        case 'poll.now':
          o.onPollNow?.(m);
          break;
        case 'results.ack':
          outstanding = Math.max(0, outstanding - 1);
          o.spool.ack(m.seqs).then(
            () => void drain(),
            (err: Error) => o.log.error({ err: err.message }, 'recording an ack failed'),
          );
          break;
        case 'discovery.start':
          o.onDiscoveryStart?.(m.job);
          break;
        case 'discovery.cancel':
          o.onDiscoveryCancel?.(m.run_id);
          break;
        case 'credentials.invalidate':
          o.onInvalidate?.(m.profile_id);
          break;
      }
    });
    sock.on('close', (code: number, reason: Buffer) => {
      clearTimeout(welcomeTimer);
      if (ws !== sock) return;
      const r = reason.toString('utf8');
      o.log.info({ code, reason: r }, 'disconnected');
      down(code, r);
    });
    sock.on('error', (err: Error) => {
      o.log.warn({ err: err.message }, 'connection error');
    });
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      connect();
    },
    async stop() {
      stopped = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      reconnectTimer = undefined;
      if (hbTimer) clearInterval(hbTimer);
      const s = ws;
      ws = undefined;
      isUp = false;
      if (s && s.readyState === WebSocket.OPEN) {
        await new Promise<void>((resolve) => {
          s.once('close', () => resolve());
          s.close(CloseCode.goingAway, 'agent stopping');
          setTimeout(() => {
            s.terminate();
            resolve();
          }, 1000).unref();
        });
      } else s?.terminate();
    },
    send: (msg) => isUp && sendRaw(msg),
    offsetMs: () => offset,
    connected: () => isUp,
    kick: () => void drain(),
    stats: () => ({ ...stats }),
  };
}
