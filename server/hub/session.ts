import WebSocket from 'ws';
import {
  CloseCode,
  PROTOCOL_VERSION,
  parseAgentMessage,
  type AgentHealth,
  type AgentMessage,
  type PollJob,
  type ResultItem,
  type ServerMessage,
} from '../../shared/protocol/index.ts';
import { AgentAuthError, type AuthenticatedAgent } from './agent-auth.ts';

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
  authenticate(token: string): Promise<AuthenticatedAgent>;
  register(s: AgentSession): void;
  unregister(s: AgentSession): void;
  presence(s: AgentSession, hello: { version: string; hostname: string } | undefined, health: AgentHealth | undefined): void;
  results(s: AgentSession, items: ResultItem[]): Promise<void>;
  other(s: AgentSession, msg: AgentMessage): void;
  windowOpen(s: AgentSession): void;
}

/**
 * One agent socket. Until a valid hello arrives nothing is sent and only a hello is accepted;
 * an invalid, oversized or unexpected message closes the socket with a reason code.
 */
export class AgentSession {
  agent: AuthenticatedAgent | undefined;
  maxInFlight = 1;
  readonly inFlight = new Map<string, number>();
  private state: 'hello' | 'authenticating' | 'ready' | 'closed' = 'hello';
  private lastHeard = Date.now();
  private authTimer: NodeJS.Timeout | undefined;
  private hbTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly ws: WebSocket,
    readonly remote: string,
    private readonly host: SessionHost,
  ) {
    this.authTimer = setTimeout(() => this.close(CloseCode.authTimeout, 'no valid hello in time'), host.authTimeoutMs);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
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

  send(msg: ServerMessage): boolean {
    if (this.state !== 'ready' || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** Room left in the agent's advertised flow-control window. */
  window(): number {
    const now = Date.now();
    for (const [id, expires] of this.inFlight) if (expires <= now) this.inFlight.delete(id);
    return Math.max(0, this.maxInFlight - this.inFlight.size);
  }

  /**
   * Takes room in the window for jobs that will be sent shortly (their credentials are still being
   * sealed): counted from now, so a second claim cannot take the same room.
   */
  claim(jobs: readonly { job_id: string; deadline: number }[], graceMs: number): number {
    if (this.state !== 'ready') return 0;
    const room = Math.min(this.window(), jobs.length);
    for (let i = 0; i < room; i++) this.inFlight.set(jobs[i]!.job_id, jobs[i]!.deadline + graceMs);
    return Math.max(0, room);
  }

  /** Gives back claimed room for jobs that will not be sent. */
  release(jobIds: readonly string[]): void {
    let freed = false;
    for (const id of jobIds) freed = this.inFlight.delete(id) || freed;
    if (freed) this.host.windowOpen(this);
  }

  /**
   * Sends the jobs whose room this session claimed; returns those it cannot send (a newer session
   * of the agent never claimed them, or this one is gone).
   */
  sendClaimed(jobs: PollJob[]): PollJob[] {
    const mine = jobs.filter((j) => this.inFlight.has(j.job_id));
    const notMine = jobs.filter((j) => !this.inFlight.has(j.job_id));
    if (mine.length === 0) return notMine;
    return this.send({ type: 'jobs.dispatch', jobs: mine }) ? notMine : jobs;
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
    if (wasReady) this.host.unregister(this);
  }

  private violation(reason: string): void {
    this.host.log.warn({ remote: this.remote, agent_id: this.agent?.id, reason }, 'agent protocol violation');
    this.close(CloseCode.protocolError, reason);
  }

  private onMessage(raw: string | Buffer): void {
    if (this.state === 'closed') return;
    this.lastHeard = Date.now();
    const parsed = parseAgentMessage(raw);
    if (!parsed.ok) return this.violation(parsed.reason);
    const m = parsed.message;
    if (this.state === 'hello') {
      if (m.type !== 'hello') return this.violation(`expected hello, got ${m.type}`);
      if (m.protocol !== PROTOCOL_VERSION) {
        this.close(CloseCode.versionMismatch, `protocol ${m.protocol} is not supported (server speaks ${PROTOCOL_VERSION})`);
        return;
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
        this.host.presence(this, undefined, m.health);
        return;
      case 'heartbeat.ack':
        return;
      case 'results.batch': {
        let freed = false;
        for (const r of m.results) freed = this.inFlight.delete(r.job_id) || freed;
        if (freed) this.host.windowOpen(this);
        const seqs = m.results.map((r) => r.seq);
        this.host.results(this, m.results).then(
          () => this.send({ type: 'results.ack', seqs }),
          (err: Error) => {
            this.host.log.error({ err: err.message, agent_id: this.agent?.id, count: seqs.length }, 'storing results failed; the agent will resend them');
            this.close(CloseCode.serverError, 'results could not be stored; resend');
          },
        );
        return;
      }
      default:
        this.host.other(this, m);
    }
  }

  private async authenticate(hello: Extract<AgentMessage, { type: 'hello' }>): Promise<void> {
    try {
      this.agent = await this.host.authenticate(hello.token);
    } catch (err) {
      if (!(err instanceof AgentAuthError)) {
        // The database is down or slow, not the agent wrong: 4001 would make it give up for good.
        this.host.log.error({ remote: this.remote, err: (err as Error).message }, 'agent authentication could not be checked');
        this.close(CloseCode.serverError, 'server error; try again');
        return;
      }
      this.host.log.warn({ remote: this.remote, reason: err.message }, 'agent authentication failed');
      this.close(err.disabled ? CloseCode.agentDisabled : CloseCode.unauthorized, err.disabled ? 'agent disabled' : 'authentication failed');
      return;
    }
    if (this.state !== 'authenticating') return;
    clearTimeout(this.authTimer);
    this.maxInFlight = hello.max_in_flight;
    this.state = 'ready';
    this.host.register(this);
    this.send({ type: 'welcome', agent_id: this.agent.id, protocol: PROTOCOL_VERSION, server_time: Date.now(), echo: hello.sent_at, heartbeat_ms: this.host.heartbeatMs });
    this.host.presence(this, { version: hello.agent_version, hostname: hello.hostname }, undefined);
    this.hbTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > 2 * this.host.heartbeatMs) {
        this.host.log.warn({ agent_id: this.agent?.id }, 'agent stopped answering heartbeats');
        this.ws.terminate();
        this.finish();
        return;
      }
      this.send({ type: 'heartbeat', sent_at: Date.now() });
    }, this.host.heartbeatMs);
  }
}
