import { WinrmAuthError, WinrmConnectError, WinrmFaultError, WinrmAccessDeniedError, WinrmTlsError } from './errors.ts';
import { ConnectionLostError, HttpConnection, type HttpResponse, type TlsOptions } from './http-connection.ts';

/**
 * SOAP POSTs to one target, over a small pool of keep-alive connections that each carry
 * their own authentication (NTLM binds to the TCP connection; Basic is per request).
 *
 * Contract: a `Transport` belongs to one WinRM client (one host + one credential). Up to
 * `maxConnections` requests run at once, each on its own authenticated connection; more wait.
 */

export type AuthScheme = 'basic' | 'ntlm';
export type EncryptionMode = 'auto' | 'always' | 'never';

export interface Credentials {
  username: string;
  password: string;
  domain?: string;
}

/** Message sealing over one authenticated NTLM connection (MS-WSMV 2.2.9.1.1). */
export interface NtlmSealer {
  /** Plain SOAP bytes → multipart/encrypted body and its Content-Type. */
  wrap(soap: Buffer): { body: Buffer; contentType: string };
  /** Encrypted body (as received) → plain SOAP bytes; throws if the signature is wrong. */
  unwrap(body: Buffer, contentType: string): Buffer;
}

/** One NTLM handshake (one per connection). */
export interface NtlmHandshake {
  negotiate(): Buffer;
  /** CHALLENGE token → AUTHENTICATE token; `peerCertDer` enables channel binding on HTTPS. */
  authenticate(challenge: Buffer, peerCertDer: Buffer | undefined): Buffer;
  /** Valid after authenticate(). */
  sealer(): NtlmSealer;
}

export type NtlmFactory = (creds: Credentials) => NtlmHandshake;

export interface TransportOptions {
  host: string;
  port: number;
  https: boolean;
  path?: string;
  tls: TlsOptions;
  auth: AuthScheme;
  credentials: Credentials;
  /** Required when auth is 'ntlm'. */
  ntlm?: NtlmFactory;
  /** 'auto': seal NTLM traffic over HTTP (what a default Windows host demands), never over HTTPS. */
  encryption?: EncryptionMode;
  connectTimeoutMs: number;
  readTimeoutMs: number;
  maxConnections: number;
}

export interface TransportStats {
  /** HTTP request/response exchanges, handshake legs included. */
  roundTrips: number;
  bytesSent: number;
  bytesReceived: number;
  connectionsOpened: number;
  handshakes: number;
}

export interface SoapHttpAnswer {
  status: number;
  xml: string;
}

const SOAP_TYPE = 'application/soap+xml;charset=UTF-8';

interface PooledConnection {
  http: HttpConnection;
  authenticated: boolean;
  sealer: NtlmSealer | undefined;
}

export class Transport {
  readonly stats: TransportStats = {
    roundTrips: 0,
    bytesSent: 0,
    bytesReceived: 0,
    connectionsOpened: 0,
    handshakes: 0,
  };
  readonly url: string;
  private readonly o: TransportOptions;
  private readonly encrypt: boolean;
  private readonly hostHeader: string;
  private readonly idle: PooledConnection[] = [];
  private readonly waiters: ((c: PooledConnection | undefined) => void)[] = [];
  private total = 0;
  private closed = false;

  constructor(o: TransportOptions) {
    if (o.auth === 'ntlm' && !o.ntlm) throw new Error('NTLM auth needs an NTLM implementation');
    this.o = o;
    const mode = o.encryption ?? 'auto';
    this.encrypt = o.auth === 'ntlm' && (mode === 'always' || (mode === 'auto' && !o.https));
    const defaultPort = o.https ? 443 : 80;
    const host = o.host.includes(':') ? `[${o.host}]` : o.host;
    this.hostHeader = o.port === defaultPort ? host : `${host}:${o.port}`;
    this.url = `${o.https ? 'https' : 'http'}://${this.hostHeader}${o.path ?? '/wsman'}`;
  }

  get encrypted(): boolean {
    return this.encrypt;
  }

  /** POSTs one envelope with authentication; resolves for HTTP 200 and SOAP faults (500). */
  async send(xml: string, readTimeoutMs = this.o.readTimeoutMs): Promise<SoapHttpAnswer> {
    let conn = await this.acquire();
    // Encoded only once a connection is ours: a small Buffer pins its whole 8 KB pool slab, and
    // requests queued behind busy connections would otherwise hold many slabs of garbage.
    const soap = Buffer.from(xml, 'utf8');
    try {
      const reused = conn.http.requests > 0;
      try {
        return await this.exchange(conn, soap, readTimeoutMs);
      } catch (err) {
        // A kept-alive socket the host closed while idle: authenticate a fresh one and resend once.
        if (!(err instanceof ConnectionLostError) || !reused) throw err;
        this.discard(conn);
        conn = await this.openConnection();
        return await this.exchange(conn, soap, readTimeoutMs);
      }
    } finally {
      this.release(conn);
    }
  }

  /** Identify without credentials (`WSMANIDENTIFY: unauthenticated`) on a throw-away connection. */
  async sendAnonymous(xml: string): Promise<SoapHttpAnswer> {
    const http = await this.connect();
    try {
      const body = Buffer.from(xml, 'utf8');
      const res = await this.roundTrip(
        http,
        body,
        SOAP_TYPE,
        { WSMANIDENTIFY: 'unauthenticated' },
        this.o.readTimeoutMs,
      );
      return this.answer(res, undefined);
    } finally {
      http.destroy();
    }
  }

  /**
   * A NEGOTIATE alone on a throw-away connection: the host's CHALLENGE token, or undefined when it
   * does not offer NTLM. A NEGOTIATE carries only flags and our version, nothing secret, so
   * discovery may send it to a host whose identity is not proven.
   */
  async challengeAnonymous(negotiate: Buffer): Promise<Buffer | undefined> {
    const http = await this.connect();
    try {
      const res = await this.roundTrip(
        http,
        Buffer.alloc(0),
        SOAP_TYPE,
        { Authorization: `Negotiate ${negotiate.toString('base64')}` },
        this.o.readTimeoutMs,
      );
      return res.status === 401 ? negotiateToken(res) : undefined;
    } finally {
      http.destroy();
    }
  }

  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.http.destroy();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  private async exchange(conn: PooledConnection, soap: Buffer, readTimeoutMs: number): Promise<SoapHttpAnswer> {
    if (this.o.auth === 'basic') {
      // Basic carries the password itself; over plain HTTP only when the caller said unencrypted is fine.
      if (!this.o.https && (this.o.encryption ?? 'auto') !== 'never') {
        throw new WinrmAuthError(
          'refusing to send a Basic password in clear text over HTTP: use HTTPS (5986) or an NTLM credential',
          'basic_over_http',
        );
      }
      const res = await this.roundTrip(
        conn.http,
        soap,
        SOAP_TYPE,
        { Authorization: this.basicHeader() },
        readTimeoutMs,
      );
      if (res.status === 401 && !this.o.https) {
        throw new WinrmAuthError(
          'the host rejected Basic authentication over HTTP (wrong credentials, Basic disabled, or unencrypted traffic refused: use NTLM or HTTPS)',
          'http_401',
        );
      }
      return this.answer(res, undefined);
    }
    if (!conn.authenticated) {
      const first = await this.ntlmHandshake(conn, this.encrypt ? undefined : soap, readTimeoutMs);
      if (first) return first;
    }
    if (this.encrypt) {
      const wrapped = conn.sealer!.wrap(soap);
      const res = await this.roundTrip(conn.http, wrapped.body, wrapped.contentType, {}, readTimeoutMs);
      try {
        return this.answer(res, conn.sealer);
      } catch (err) {
        // A frame that did not unseal may have left this side's RC4 stream and sequence number out
        // of step with the host's, and so may a 401 or any other surprise: never reuse the connection.
        conn.http.destroy();
        throw err;
      }
    }
    const res = await this.roundTrip(conn.http, soap, SOAP_TYPE, {}, readTimeoutMs);
    return this.answer(res, undefined);
  }

  /**
   * NEGOTIATE → CHALLENGE → AUTHENTICATE on this connection. With sealing both legs have an
   * empty body (as pywinrm does); without, the AUTHENTICATE leg carries the request and its
   * answer is returned.
   */
  private async ntlmHandshake(
    conn: PooledConnection,
    soap: Buffer | undefined,
    readTimeoutMs: number,
  ): Promise<SoapHttpAnswer | undefined> {
    this.stats.handshakes++;
    const hs = this.o.ntlm!(this.o.credentials);
    const empty = Buffer.alloc(0);
    const r1 = await this.roundTrip(
      conn.http,
      empty,
      SOAP_TYPE,
      { Authorization: `Negotiate ${hs.negotiate().toString('base64')}` },
      readTimeoutMs,
    );
    const challenge = negotiateToken(r1);
    if (r1.status !== 401 || !challenge) {
      if (r1.status === 401)
        throw new WinrmAuthError('the host does not accept NTLM (Negotiate) authentication', 'http_401');
      throw unexpectedStatus(r1);
    }
    if (!conn.http.alive)
      throw new WinrmConnectError('the host closed the connection during NTLM authentication', 'ECONNRESET');
    let token: Buffer;
    try {
      token = hs.authenticate(challenge, conn.http.peerCertDer);
    } catch {
      throw new WinrmAuthError('the host sent an NTLM challenge we cannot answer', 'ntlm_challenge');
    }
    const body = soap ?? empty;
    const r2 = await this.roundTrip(
      conn.http,
      body,
      SOAP_TYPE,
      { Authorization: `Negotiate ${token.toString('base64')}` },
      readTimeoutMs,
    );
    if (r2.status === 401) throw new WinrmAuthError('the host rejected the credentials (HTTP 401)', 'http_401');
    conn.authenticated = true;
    conn.sealer = this.encrypt ? hs.sealer() : undefined;
    if (!soap) {
      if (r2.status !== 200) throw unexpectedStatus(r2);
      return undefined;
    }
    return this.answer(r2, undefined);
  }

  /**
   * With a sealer (sealing negotiated) a 200 or 500 must come sealed: a plain one after the
   * handshake is what someone on the path would send, since only the host holds the session key.
   * Refused as `tls` (the channel's protection failed, as with a wrong certificate), not read.
   */
  private answer(res: HttpResponse, sealer: NtlmSealer | undefined): SoapHttpAnswer {
    const ctype = res.headers.get('content-type')?.[0] ?? '';
    let body = res.body;
    if (sealer && (res.status === 200 || res.status === 500)) {
      if (!ctype.toLowerCase().includes('multipart/encrypted')) {
        throw new WinrmTlsError(
          `the host's HTTP ${res.status} answer on an NTLM-sealed connection was not sealed: refused, as anyone on the path ` +
            'could have written it; look for a proxy or device rewriting traffic to the host, or use HTTPS',
          'ntlm_unsealed',
        );
      }
      try {
        body = sealer.unwrap(body, ctype);
      } catch {
        throw new WinrmFaultError("could not decrypt the host's NTLM-sealed response", 'ntlm_unseal');
      }
    }
    if (res.status === 200) return { status: 200, xml: body.toString('utf8') };
    if (res.status === 500 && body.length > 0) return { status: 500, xml: body.toString('utf8') };
    throw unexpectedStatus(res);
  }

  private async roundTrip(
    http: HttpConnection,
    body: Buffer,
    contentType: string,
    extra: Record<string, string>,
    readTimeoutMs: number,
  ): Promise<HttpResponse> {
    let head =
      `POST ${this.o.path ?? '/wsman'} HTTP/1.1\r\nHost: ${this.hostHeader}\r\n` +
      `Content-Type: ${contentType}\r\nContent-Length: ${body.length}\r\n` +
      'Connection: Keep-Alive\r\nUser-Agent: NMSlite WinRM\r\n';
    for (const [k, v] of Object.entries(extra)) head += `${k}: ${v}\r\n`;
    head += '\r\n';
    const sent = http.bytesSent;
    const received = http.bytesReceived;
    this.stats.roundTrips++;
    try {
      return await http.request(head, body, readTimeoutMs);
    } finally {
      this.stats.bytesSent += http.bytesSent - sent;
      this.stats.bytesReceived += http.bytesReceived - received;
    }
  }

  private basicHeader(): string {
    const c = this.o.credentials;
    const user = c.domain ? `${c.domain}\\${c.username}` : c.username;
    return `Basic ${Buffer.from(`${user}:${c.password}`, 'utf8').toString('base64')}`;
  }

  private connect(): Promise<HttpConnection> {
    this.stats.connectionsOpened++;
    return HttpConnection.open({
      host: this.o.host,
      port: this.o.port,
      https: this.o.https,
      tls: this.o.tls,
      connectTimeoutMs: this.o.connectTimeoutMs,
    });
  }

  private async openConnection(): Promise<PooledConnection> {
    return { http: await this.connect(), authenticated: false, sealer: undefined };
  }

  private async acquire(): Promise<PooledConnection> {
    if (this.closed) throw new WinrmConnectError('the WinRM client is closed', 'closed');
    while (this.idle.length > 0) {
      const c = this.idle.pop()!;
      if (c.http.alive) return c;
      this.total--;
    }
    if (this.total < this.o.maxConnections) {
      this.total++;
      try {
        return await this.openConnection();
      } catch (err) {
        this.total--;
        this.wakeWaiter();
        throw err;
      }
    }
    const c = await new Promise<PooledConnection | undefined>((resolve) => this.waiters.push(resolve));
    if (!c) return this.acquire();
    return c;
  }

  private release(c: PooledConnection): void {
    if (this.closed || !c.http.alive) {
      c.http.destroy();
      this.total--;
      this.wakeWaiter();
      return;
    }
    const w = this.waiters.shift();
    if (w) w(c);
    else this.idle.push(c);
  }

  private discard(c: PooledConnection): void {
    // The slot stays counted: the caller reuses it for the replacement connection.
    c.http.destroy();
  }

  private wakeWaiter(): void {
    const w = this.waiters.shift();
    if (w) w(undefined);
  }
}

function negotiateToken(res: HttpResponse): Buffer | undefined {
  for (const v of res.headers.get('www-authenticate') ?? []) {
    const m = /^Negotiate\s+([A-Za-z0-9+/=]+)\s*$/i.exec(v);
    if (m) return Buffer.from(m[1]!, 'base64');
  }
  return undefined;
}

function unexpectedStatus(res: HttpResponse): Error {
  switch (res.status) {
    case 401:
      return new WinrmAuthError('the host rejected the credentials (HTTP 401)', 'http_401');
    case 403:
      return new WinrmAccessDeniedError('the host denied access (HTTP 403)', 'http_403');
    case 413:
      return new WinrmFaultError('the request is larger than the host accepts (HTTP 413)', 'http_413');
    default:
      return new WinrmFaultError(`unexpected HTTP ${res.status} from the WinRM service`, `http_${res.status}`);
  }
}
