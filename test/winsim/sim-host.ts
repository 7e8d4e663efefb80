import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { createHostDynamics, computeHostState, type HostDynamics, type HostState } from './host-state.ts';
import type { HostProfile } from './host-profile.ts';
import { computeTruth, metricsScriptJson, type HostTruth } from './host-truth.ts';
import { defaultFaults, type HostFaults } from './host-faults.ts';
import { authenticateRequest, type AuthMode, type ConnectionState } from './http-auth.ts';
import { ENCRYPTED_CONTENT_TYPE, type NtlmAcceptor } from './ntlm-acceptor.ts';
import { ShellService, type SoapReply } from './shells.ts';
import { parseWsmanRequest } from './soap-request.ts';
import {
  accessDeniedFault,
  actionNotSupportedFault,
  ACTIONS,
  DEFAULT_INJECTED_FAULT,
  identifyResponse,
  injectedFault,
  invalidHeaderFault,
  type SoapFault,
} from './soap-response.ts';
import { WmiService } from './wmi-service.ts';
import { configXml } from './wsman-config.ts';

export type { AuthMode } from './http-auth.ts';
export type { HostFaults } from './host-faults.ts';

export interface SimHostOptions {
  profile: HostProfile;
  address: string;
  port: number;
  user: string;
  password: string;
  auth: AuthMode;
  tls: { key: string; cert: string; fingerprint: string } | null;
  tickMs: number;
  startMs: number;
  clock: () => number;
  maxShells: number;
  metricsMarker: string;
  ntlm: NtlmAcceptor | null;
  faults: Partial<HostFaults>;
}

interface HttpReply {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

const SOAP_CONTENT_TYPE = 'application/soap+xml;charset=UTF-8';
const SERVER_HEADER = 'Microsoft-HTTPAPI/2.0';

/** One simulated Windows host: its own listener, identity, credentials, counters, shells and faults. */
export class SimHost {
  readonly profile: HostProfile;
  readonly address: string;
  private boundPort: number;
  readonly user: string;
  readonly password: string;
  readonly auth: AuthMode;
  readonly tls: boolean;
  readonly fingerprint: string | undefined;
  private readonly faults: HostFaults;
  private readonly dynamics: HostDynamics;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly connections = new WeakMap<Socket, ConnectionState>();
  private readonly wmi: WmiService;
  private readonly shells: ShellService;
  private lastState: HostState | undefined;
  /** Counters tests and benchmarks read: what the host actually saw on the wire. */
  readonly stats = {
    requests: 0,
    ntlmHandshakes: 0,
    encryptedRequests: 0,
    refusedUnencrypted: 0,
    unauthorized: 0,
    faults: 0,
  };
  private listening = false;
  private stopped = false;

  constructor(private readonly o: SimHostOptions) {
    this.profile = o.profile;
    this.address = o.address;
    this.boundPort = o.port;
    this.user = o.user;
    this.password = o.password;
    this.auth = o.auth;
    this.tls = o.tls !== null;
    this.fingerprint = o.tls?.fingerprint;
    this.faults = { ...defaultFaults(this.tls, o.auth), ...o.faults };
    this.dynamics = createHostDynamics(o.profile, o.tickMs, o.startMs);
    this.wmi = new WmiService({
      machine: o.address,
      profile: o.profile,
      state: () => this.state(),
      configXml: () =>
        configXml({
          allowUnencrypted: !this.faults.unencryptedRefused,
          basic: o.auth !== 'ntlm',
          maxShells: o.maxShells,
        }),
    });
    this.shells = new ShellService({
      machine: o.address,
      endpoint: () => this.url,
      maxShells: o.maxShells,
      commandDelayMs: () => this.faults.commandDelayMs,
      commandContext: {
        hostname: o.profile.hostname,
        metricsMarker: o.metricsMarker,
        metricsJson: () => metricsScriptJson(this.truth()),
      },
    });
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.onRequest(req, res);
    this.server = o.tls ? createHttpsServer({ key: o.tls.key, cert: o.tls.cert }, handler) : createHttpServer(handler);
    // HTTP.sys keeps idle connections for 120 s; NTLM state lives on them.
    this.server.keepAliveTimeout = 120_000;
    this.server.headersTimeout = 125_000;
    this.server.requestTimeout = 0;
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.on('secureConnection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.on('clientError', (_err, socket) => socket.destroy());
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://${this.address}:${this.port}/wsman`;
  }

  state(atMs?: number): HostState {
    const t = Math.floor(atMs ?? this.o.clock());
    // Many requests land in the same millisecond under load; the state is a pure function of t.
    if (this.lastState?.timeMs !== t) this.lastState = computeHostState(this.dynamics, t);
    return this.lastState;
  }

  /** The values a correct client collects right now (see HostTruth). */
  truth(atMs?: number): HostTruth {
    return computeTruth(this.profile, this.state(atMs));
  }

  currentFaults(): Readonly<HostFaults> {
    return { ...this.faults };
  }

  get openShells(): number {
    return this.shells.shellCount;
  }

  get openEnumerations(): number {
    return this.wmi.openEnumerations;
  }

  async setFault(patch: Partial<HostFaults>): Promise<void> {
    Object.assign(this.faults, patch);
    if (patch.portClosed === true) await this.closeListener();
    if (patch.portClosed === false) await this.listen();
  }

  async listen(): Promise<void> {
    if (this.listening || this.stopped || this.faults.portClosed) return;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: this.address, port: this.boundPort, backlog: 511 }, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as AddressInfo).port;
    this.listening = true;
  }

  private async closeListener(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.shells.close();
    await this.closeListener();
  }

  private wwwAuthenticate(): string[] {
    const lines: string[] = [];
    if (this.auth !== 'basic') lines.push('Negotiate', 'Kerberos');
    if (this.auth !== 'ntlm') lines.push('Basic realm="WSMAN"');
    return lines;
  }

  private unauthorized(close = true): HttpReply {
    this.stats.unauthorized++;
    return {
      status: 401,
      headers: { 'WWW-Authenticate': this.wwwAuthenticate(), ...(close ? { Connection: 'close' } : {}) },
      body: Buffer.alloc(0),
    };
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.faults.dropConnections) {
      req.socket.destroy();
      return;
    }
    this.stats.requests++;
    const chunks: Buffer[] = [];
    const complete = await new Promise<boolean>((resolve) => {
      req.on('data', (c: Buffer) => chunks.push(c));
      req.once('end', () => resolve(true));
      req.once('error', () => resolve(false));
      req.once('close', () => resolve(false)); // after 'end' this is a no-op
    });
    if (!complete) return;
    if (this.faults.timeout) return; // never answered; the client's read timeout fires
    let reply: HttpReply;
    try {
      reply = await this.process(req, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    } catch {
      reply = { status: 500, headers: {}, body: Buffer.alloc(0) };
    }
    if (this.faults.latencyMs > 0) await new Promise((r) => setTimeout(r, this.faults.latencyMs));
    if (this.faults.timeout || this.faults.dropConnections) {
      if (this.faults.dropConnections) req.socket.destroy();
      return;
    }
    if (res.destroyed) return;
    res.writeHead(reply.status, {
      Server: SERVER_HEADER,
      'Content-Length': String(reply.body.length),
      ...reply.headers,
    });
    res.end(reply.body);
    if (reply.headers.Connection === 'close') res.once('finish', () => req.socket.end());
  }

  private async process(req: IncomingMessage, body: Buffer): Promise<HttpReply> {
    if (req.method !== 'POST') return { status: 405, headers: { Allow: 'POST' }, body: Buffer.alloc(0) };
    if ((req.url ?? '').split('?')[0]!.toLowerCase() !== '/wsman')
      return { status: 404, headers: {}, body: Buffer.alloc(0) };
    const socket = req.socket;
    let conn = this.connections.get(socket);
    if (!conn) {
      conn = {};
      this.connections.set(socket, conn);
    }
    const contentType = String(req.headers['content-type'] ?? '');
    const encrypted = contentType.toLowerCase().startsWith('multipart/encrypted');

    if (
      !encrypted &&
      String(req.headers.wsmanidentify ?? '').toLowerCase() === 'unauthenticated' &&
      /Identify[\s/>]/.test(body.toString('utf8'))
    ) {
      return soap(200, identifyResponse(`OS: 0.0.0 SP: 0.0 Stack: ${this.profile.os.stack}`, false));
    }

    const outcome = authenticateRequest(String(req.headers.authorization ?? ''), conn, {
      auth: this.auth,
      user: this.user,
      password: this.password,
      wrongPassword: this.faults.wrongPassword,
      ntlm: this.o.ntlm,
    });
    if (outcome.kind === 'challenge') {
      this.stats.ntlmHandshakes++;
      return {
        status: 401,
        headers: { 'WWW-Authenticate': `Negotiate ${outcome.token.toString('base64')}` },
        body: Buffer.alloc(0),
      };
    }
    if (outcome.kind === 'denied') return this.unauthorized();
    const user = outcome.user;

    let plain: Buffer;
    const session = encrypted ? conn.session : undefined;
    if (encrypted) {
      if (!session) return this.unauthorized();
      try {
        plain = session.decryptRequest(body);
        this.stats.encryptedRequests++;
      } catch {
        conn.session = undefined;
        conn.user = undefined;
        return { status: 400, headers: { Connection: 'close' }, body: Buffer.alloc(0) };
      }
    } else {
      if (body.length === 0) return { status: 200, headers: {}, body: Buffer.alloc(0) };
      // Windows with AllowUnencrypted=false answers a plain SOAP POST over HTTP with 401.
      if (this.faults.unencryptedRefused && !this.tls) {
        this.stats.refusedUnencrypted++;
        conn.session = undefined;
        conn.user = undefined;
        return this.unauthorized(false);
      }
      plain = body;
    }

    const out = await this.dispatch(plain.toString('utf8'), user, req.socket.remoteAddress ?? '');
    if (out.status === 500) this.stats.faults++;
    if (session) {
      return {
        status: out.status,
        headers: { 'Content-Type': ENCRYPTED_CONTENT_TYPE },
        body: session.encryptResponse(Buffer.from(out.body, 'utf8')),
      };
    }
    return soap(out.status, out.body);
  }

  private async dispatch(xml: string, user: string, remote: string): Promise<SoapReply | SoapFault> {
    const request = parseWsmanRequest(xml);
    const machine = this.address;
    if (request.isIdentify) {
      return {
        status: 200,
        body: identifyResponse(`OS: ${this.profile.os.version} SP: 0.0 Stack: ${this.profile.os.stack}`, true),
      };
    }
    if (this.faults.accessDenied) return accessDeniedFault(machine, request.messageId);
    if (this.faults.http500) {
      return injectedFault(
        machine,
        this.faults.http500 === true ? DEFAULT_INJECTED_FAULT : this.faults.http500,
        request.messageId,
      );
    }
    if (request.operationTimeoutMs !== undefined && !(request.operationTimeoutMs >= 0)) {
      const raw = /<(?:[\w.-]+:)?OperationTimeout[^>]*>([^<]*)</.exec(request.header)?.[1] ?? '';
      return invalidHeaderFault(
        machine,
        `The WS-Management service cannot process the request. The XML contains an invalid timeout field in the SOAP header: ${raw}. `,
        request.messageId,
      );
    }
    const clientIp = remote.replace(/^::ffff:/, '');
    if (request.resourceUri.toLowerCase().startsWith('http://schemas.microsoft.com/wbem/wsman/1/windows/shell')) {
      return this.shells.handle(request, user, clientIp);
    }
    switch (request.action) {
      case ACTIONS.enumerate:
      case ACTIONS.pull:
      case ACTIONS.release:
      case ACTIONS.get:
        return this.wmi.handle(request);
      default:
        return actionNotSupportedFault(machine, request.action, request.messageId);
    }
  }
}

function soap(status: number, body: string): HttpReply {
  return { status, headers: { 'Content-Type': SOAP_CONTENT_TYPE }, body: Buffer.from(body, 'utf8') };
}
