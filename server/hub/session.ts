import WebSocket from 'ws';
import {
  AGENT_SUBPROTOCOL,
  CloseCode,
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  parseAgentMessage,
  subprotocolVersion,
  type AgentHealth,
  type AgentMessage,
  type ServerMessage,
} from '../../shared/protocol/index.ts';
import { AgentAuthError, answersChallenge, createChallengeNonce, type AuthenticatedAgent } from './agent-auth.ts';
import type { AgentContext, AgentHandlers, HandledMessage } from './handlers/handler.ts';
import type { ConnectedAgent } from './registry.ts';
import { MESSAGES_PER_SECOND, MessageRate } from './session-limits.ts';

export interface HubLog {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
  debug(o: object, msg: string): void;
}

/** What a session needs from its hub; one implementation, in hub.ts. */
export interface SessionHost {
  log: HubLog;
  heartbeatMs: number;
  authTimeoutMs: number;
  /** Bytes the socket may hold unsent (the agent not reading) before the session is closed with 4029. */
  maxUnsentBytes: number;
  handlers: AgentHandlers;
  /** Verifies the token's signature and the agent; the session has checked it answers its challenge. */
  authenticate(token: string): Promise<AuthenticatedAgent>;
  /** The welcome went out: the session is the agent's now. */
  welcomed(s: AgentSession, hello: { version: string; hostname: string }): void;
  /** A welcomed session ended. */
  closed(s: AgentSession): void;
  heartbeat(s: AgentSession, health: AgentHealth): void;
}

let connections = 0;

/**
 * Handlers of one session still running (result batches being stored) beyond which the socket is
 * not read until one finishes: an agent that sends without waiting for acks cannot queue unbounded
 * work and memory on the server. The agent itself keeps 4 batches in flight.
 */
export const MAX_PENDING_HANDLERS = 16;

/** The close reason for another protocol version: an older agent is told to upgrade, a newer one that the server is older. */
export const versionMismatchReason = (protocol: unknown): string => {
  const newer = typeof protocol === 'number' && protocol > PROTOCOL_VERSION;
  const advice = newer ? 'upgrade the server, or run an agent of its version' : 'upgrade the agent';
  return `protocol ${String(protocol).slice(0, 12)} is not supported (server speaks ${PROTOCOL_VERSION}): ${advice}`;
};

/** An old agent's hello may not match this version's schema; its version number still gets the clear refusal. */
function helloProtocol(raw: string | Buffer): number | undefined {
  try {
    const j = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8')) as {
      type?: unknown;
      protocol?: unknown;
    };
    return j && j.type === 'hello' && typeof j.protocol === 'number' && j.protocol !== PROTOCOL_VERSION
      ? j.protocol
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One agent socket: parses, authenticates, answers heartbeats and hands every other message to
 * its type's handler. Until a valid hello arrives only a hello is accepted and nothing is sent but
 * the challenge (to a socket that offered a subprotocol of protocol 3 or later: older agents send
 * their hello at once and would not understand it); an invalid, oversized or unexpected message
 * closes the socket with a reason code.
 */
export class AgentSession implements ConnectedAgent, AgentContext {
  agent: AuthenticatedAgent | undefined;
  readonly connection = ++connections;
  private state: 'hello' | 'authenticating' | 'ready' | 'closed' = 'hello';
  private lastHeard = Date.now();
  private pending = 0;
  private paused = false;
  private readonly rate = new MessageRate();
  private authTimer: NodeJS.Timeout | undefined;
  private hbTimer: NodeJS.Timeout | undefined;
  /** This socket's challenge; a hello must carry it (signed) to be considered. */
  private readonly nonce: string | undefined;

  constructor(
    readonly ws: WebSocket,
    readonly remote: string,
    private readonly host: SessionHost,
  ) {
    this.authTimer = setTimeout(() => this.close(CloseCode.authTimeout, 'no valid hello in time'), host.authTimeoutMs);
    if ((subprotocolVersion(ws.protocol) ?? 0) >= 3) {
      this.nonce = createChallengeNonce();
      ws.send(JSON.stringify({ type: 'challenge', nonce: this.nonce } satisfies ServerMessage));
    }
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.state === 'closed') return;
      if (data.length > MAX_MESSAGE_BYTES) {
        host.log.warn({ remote, agent_id: this.agent?.id, bytes: data.length }, 'agent message too large; closing it');
        return this.close(
          CloseCode.tooLarge,
          `message of ${data.length} bytes is over the ${MAX_MESSAGE_BYTES}-byte limit`,
        );
      }
      try {
        this.onMessage(isBinary ? data : data.toString('utf8'));
      } catch (err) {
        host.log.error({ err: (err as Error).message, agent_id: this.agent?.id }, 'agent message handler failed');
        this.close(CloseCode.protocolError, 'internal error handling message');
      }
    });
    ws.on('close', () => this.finish());
    ws.on('error', (err) => {
      host.log.warn({ err: err.message, remote, agent_id: this.agent?.id }, 'agent socket error');
      this.finish();
    });
  }

  get ready(): boolean {
    return this.state === 'ready';
  }

  get agentId(): number {
    return this.agent?.id ?? 0;
  }

  get sealPublicKey(): string {
    return this.agent?.seal_public_key ?? '';
  }

  send(msg: ServerMessage): boolean {
    if (this.state !== 'ready' || this.ws.readyState !== WebSocket.OPEN) return false;
    const limit = this.host.maxUnsentBytes;
    if (this.ws.bufferedAmount > limit) {
      this.host.log.warn(
        { agent_id: this.agent?.id, buffered: this.ws.bufferedAmount, limit },
        'agent is not reading its socket; closing it',
      );
      this.close(CloseCode.serverBusy, `not reading: over ${limit} bytes unsent`);
      return false;
    }
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  close(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.host.log.info({ code, reason, remote: this.remote, agent_id: this.agent?.id }, 'closing agent socket');
    try {
      this.ws.close(code, reason.slice(0, 120));
    } catch {
      this.ws.terminate();
    }
    setTimeout(() => this.ws.terminate(), 2000).unref();
    this.finish();
  }

  private finish(): void {
    if (this.state === 'closed') return;
    const wasReady = this.state === 'ready';
    this.state = 'closed';
    clearTimeout(this.authTimer);
    clearInterval(this.hbTimer);
    if (wasReady) this.host.closed(this);
  }

  private violation(reason: string): void {
    this.host.log.warn({ remote: this.remote, agent_id: this.agent?.id, reason }, 'agent protocol violation');
    this.close(CloseCode.protocolError, reason);
  }

  private onMessage(raw: string | Buffer): void {
    if (this.state === 'closed') return;
    if (!this.rate.take()) {
      this.host.log.warn({ remote: this.remote, agent_id: this.agent?.id }, 'agent over its message rate; closing it');
      return this.close(CloseCode.serverBusy, `over ${MESSAGES_PER_SECOND} messages per second`);
    }
    this.lastHeard = Date.now();
    const parsed = parseAgentMessage(raw);
    if (!parsed.ok) {
      const other = this.state === 'hello' ? helloProtocol(raw) : undefined;
      if (other !== undefined) return this.close(CloseCode.versionMismatch, versionMismatchReason(other));
      return this.violation(parsed.reason);
    }
    const m = parsed.message;
    if (this.state === 'hello') {
      if (m.type !== 'hello') return this.violation(`expected hello, got ${m.type}`);
      if (m.protocol !== PROTOCOL_VERSION)
        return this.close(CloseCode.versionMismatch, versionMismatchReason(m.protocol));
      if (!this.nonce)
        return this.violation(
          `hello without a challenge: an agent of protocol ${PROTOCOL_VERSION} offers the WebSocket subprotocol ${AGENT_SUBPROTOCOL}`,
        );
      if (!answersChallenge(m.token, this.nonce)) {
        // A hello captured on another socket (or signed for none): refused before any database work.
        this.host.log.warn(
          { remote: this.remote },
          "agent authentication failed: the token does not answer this socket's challenge",
        );
        return this.close(CloseCode.unauthorized, 'authentication failed');
      }
      this.state = 'authenticating';
      void this.authenticate(m);
      return;
    }
    if (this.state === 'authenticating') return this.violation('message before the hello was answered');
    switch (m.type) {
      case 'hello':
        return this.violation('duplicate hello');
      case 'heartbeat':
        this.send({ type: 'heartbeat.ack', echo: m.sent_at, server_time: Date.now() });
        this.host.heartbeat(this, m.health);
        return;
      case 'heartbeat.ack':
        return;
      default:
        return this.dispatch(m);
    }
  }

  private dispatch(m: HandledMessage): void {
    const handler = this.host.handlers[m.type] as (ctx: AgentContext, msg: HandledMessage) => void | Promise<void>;
    const done = handler(this, m);
    if (!(done instanceof Promise)) return;
    if (++this.pending >= MAX_PENDING_HANDLERS && !this.paused) {
      this.paused = true;
      this.ws.pause();
    }
    done
      .catch((err: Error) => {
        this.host.log.error(
          { err: err.message, agent_id: this.agent?.id, type: m.type },
          'agent message handler failed',
        );
        this.close(CloseCode.serverError, 'internal error handling message; resend');
      })
      .finally(() => {
        if (--this.pending >= MAX_PENDING_HANDLERS || !this.paused) return;
        this.paused = false;
        // Not reading was our doing: the agent's silence meanwhile says nothing about it.
        this.lastHeard = Date.now();
        this.ws.resume();
      });
  }

  private async authenticate(hello: Extract<AgentMessage, { type: 'hello' }>): Promise<void> {
    try {
      this.agent = await this.host.authenticate(hello.token);
    } catch (err) {
      if (!(err instanceof AgentAuthError)) {
        // The database is down or slow, not the agent wrong: 4001 would make it give up for good.
        this.host.log.error(
          { remote: this.remote, err: (err as Error).message },
          'agent authentication could not be checked',
        );
        this.close(CloseCode.serverError, 'server error; try again');
        return;
      }
      this.host.log.warn({ remote: this.remote, reason: err.message }, 'agent authentication failed');
      this.close(
        err.disabled ? CloseCode.agentDisabled : CloseCode.unauthorized,
        err.disabled ? 'agent disabled' : 'authentication failed',
      );
      return;
    }
    if (this.state !== 'authenticating') return;
    clearTimeout(this.authTimer);
    this.state = 'ready';
    // max_in_flight (hello) is accepted and unused since protocol 2: the agent runs its own schedule.
    this.send({
      type: 'welcome',
      agent_id: this.agent.id,
      protocol: PROTOCOL_VERSION,
      server_time: Date.now(),
      echo: hello.sent_at,
      heartbeat_ms: this.host.heartbeatMs,
    });
    this.host.welcomed(this, { version: hello.agent_version, hostname: hello.hostname });
    this.hbTimer = setInterval(() => {
      if (!this.paused && Date.now() - this.lastHeard > 2 * this.host.heartbeatMs) {
        this.host.log.warn({ agent_id: this.agent?.id }, 'agent stopped answering heartbeats');
        this.ws.terminate();
        this.finish();
        return;
      }
      this.send({ type: 'heartbeat', sent_at: Date.now() });
    }, this.host.heartbeatMs);
  }
}
