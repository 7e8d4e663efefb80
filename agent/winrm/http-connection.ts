import { createHash, X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { WinrmConnectError, WinrmTimeoutError, WinrmTlsError, type WinrmError } from './errors.ts';

/**
 * One HTTP/1.1 keep-alive connection: exactly one socket, one request at a time.
 *
 * Why not node:http's Agent: NTLM authenticates the TCP connection, not the request, so the
 * client must know which socket a request travels on and that it is still the authenticated
 * one. Owning the socket makes "the server closed it, authenticate again" explicit.
 */

export type TlsMode = 'verify' | 'pin' | 'insecure';

export interface TlsOptions {
  mode: TlsMode;
  /** SHA-256 of the leaf certificate (hex, colons optional); required for mode 'pin'. */
  fingerprint?: string;
  /** Extra trusted CA(s), PEM, for mode 'verify' (private PKI, tests). */
  ca?: string | string[];
}

export interface ConnectOptions {
  host: string;
  port: number;
  https: boolean;
  tls: TlsOptions;
  connectTimeoutMs: number;
  /** Largest response (head + body) accepted; a host or impostor streaming more is cut off. Default 32 MiB. */
  maxResponseBytes?: number;
}

const DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

export interface HttpResponse {
  status: number;
  /** Lower-case header names; repeated headers keep every value. */
  headers: Map<string, string[]>;
  body: Buffer;
  /** False when the server said `Connection: close` (or HTTP/1.0 without keep-alive). */
  keepAlive: boolean;
}

/** Raised when a kept-alive socket died before any byte of the answer: safe to resend once. */
export class ConnectionLostError extends WinrmConnectError {}

const EMPTY = Buffer.alloc(0);

function normalizeFingerprint(fp: string): string {
  return fp.replace(/[^0-9a-fA-F]/g, '').toLowerCase();
}

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNRESET',
  'EPIPE',
  'EADDRNOTAVAIL',
]);

function classifySocketError(err: NodeJS.ErrnoException, host: string, port: number, tlsPhase: boolean): WinrmError {
  const code = err.code ?? 'ERROR';
  if (CONNECT_CODES.has(code) && !(tlsPhase && code === 'ECONNRESET')) {
    const what =
      code === 'ECONNREFUSED'
        ? 'connection refused'
        : code === 'ENOTFOUND'
          ? 'host name not found'
          : 'host unreachable';
    return new WinrmConnectError(`${what} (${host}:${port})`, code);
  }
  if (
    tlsPhase ||
    code.startsWith('ERR_SSL') ||
    code.startsWith('ERR_TLS') ||
    code.includes('CERT') ||
    code.includes('SELF_SIGNED')
  ) {
    return new WinrmTlsError(`TLS handshake with ${host}:${port} failed (${code})`, code);
  }
  return new WinrmConnectError(`connection to ${host}:${port} failed (${code})`, code);
}

export class HttpConnection {
  readonly socket: net.Socket;
  /** DER of the server's leaf certificate on HTTPS (for channel binding). */
  readonly peerCertDer: Buffer | undefined;
  bytesSent = 0;
  bytesReceived = 0;
  requests = 0;
  private closed = false;
  private pending: ((res: HttpResponse | Error) => void) | undefined;
  private buf: Buffer = EMPTY;
  private readTimer: NodeJS.Timeout | undefined;
  private readTimerMs = 0;
  private parsed: { status: number; headers: Map<string, string[]>; bodyStart: number; keepAlive: boolean } | undefined;

  private constructor(
    socket: net.Socket,
    peerCertDer: Buffer | undefined,
    private readonly maxResponseBytes: number,
  ) {
    this.socket = socket;
    this.peerCertDer = peerCertDer;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.onClose());
    socket.on('close', () => this.onClose());
  }

  static open(o: ConnectOptions): Promise<HttpConnection> {
    return new Promise((resolve, reject) => {
      let settled = false;
      let socket: net.Socket;
      const fail = (err: WinrmError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const timer = setTimeout(
        () =>
          fail(
            new WinrmTimeoutError(
              `connect to ${o.host}:${o.port} timed out after ${o.connectTimeoutMs} ms`,
              'connect_timeout',
            ),
          ),
        o.connectTimeoutMs,
      );
      const done = (cert: Buffer | undefined) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new HttpConnection(socket, cert, o.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES));
      };
      if (!o.https) {
        socket = net.connect({ host: o.host, port: o.port });
        socket.once('connect', () => done(undefined));
        socket.once('error', (e) => fail(classifySocketError(e, o.host, o.port, false)));
        return;
      }
      const verify = o.tls.mode === 'verify';
      const opts: tls.ConnectionOptions = {
        host: o.host,
        port: o.port,
        rejectUnauthorized: verify,
        ALPNProtocols: ['http/1.1'],
      };
      if (!net.isIP(o.host)) opts.servername = o.host;
      if (verify && o.tls.ca) opts.ca = o.tls.ca;
      let tcpUp = false;
      socket = tls.connect(opts);
      socket.once('connect', () => (tcpUp = true));
      socket.once('secureConnect', () => {
        const tsock = socket as tls.TLSSocket;
        const cert = tsock.getPeerCertificate(false);
        const der = cert?.raw ? Buffer.from(cert.raw) : undefined;
        if (o.tls.mode === 'pin') {
          const want = normalizeFingerprint(o.tls.fingerprint ?? '');
          const got = der ? createHash('sha256').update(der).digest('hex') : '';
          if (!want || want !== got) {
            fail(
              new WinrmTlsError(
                `certificate of ${o.host}:${o.port} does not match the pinned SHA-256 fingerprint`,
                'fingerprint_mismatch',
              ),
            );
            return;
          }
        }
        done(der);
      });
      socket.once('error', (e) => fail(classifySocketError(e, o.host, o.port, tcpUp)));
    });
  }

  get alive(): boolean {
    return !this.closed && !this.socket.destroyed;
  }

  /** Sends one request and resolves with the complete response. Never called concurrently. */
  request(head: string, body: Buffer, readTimeoutMs: number): Promise<HttpResponse> {
    if (this.pending) return Promise.reject(new Error('HttpConnection is busy'));
    if (!this.alive) return Promise.reject(new ConnectionLostError('connection closed by the host', 'ECONNRESET'));
    this.requests++;
    this.buf = EMPTY;
    this.parsed = undefined;
    return new Promise<HttpResponse>((resolve, reject) => {
      this.armReadTimer(readTimeoutMs);
      this.pending = (res) => {
        // The read timer stays armed: firing with nothing pending is a no-op, and refresh() re-arms it.
        this.pending = undefined;
        if (res instanceof Error) reject(res);
        else resolve(res);
      };
      this.bytesSent += Buffer.byteLength(head, 'latin1') + body.length;
      // One writev for head and body, without copying them into a new buffer.
      this.socket.cork();
      this.socket.write(head, 'latin1');
      if (body.length > 0) this.socket.write(body);
      this.socket.uncork();
    });
  }

  /** One timer per connection, re-armed per request (a fresh Timeout per request is garbage under load). */
  private armReadTimer(ms: number): void {
    if (this.readTimer && this.readTimerMs === ms) {
      this.readTimer.refresh();
      return;
    }
    if (this.readTimer) clearTimeout(this.readTimer);
    this.readTimerMs = ms;
    this.readTimer = setTimeout(() => {
      const p = this.pending;
      if (!p) return;
      this.destroy();
      p(new WinrmTimeoutError(`no answer within ${ms} ms`, 'read_timeout'));
    }, ms);
    // The socket keeps the process alive while a request is out; an idle connection's timer must not.
    this.readTimer.unref();
  }

  destroy(): void {
    this.closed = true;
    if (this.readTimer) clearTimeout(this.readTimer);
    this.socket.destroy();
  }

  private onClose(): void {
    const wasClosed = this.closed;
    this.closed = true;
    const p = this.pending;
    if (!p) return;
    if (this.parsed && !this.parsed.headers.has('content-length') && !this.parsed.headers.has('transfer-encoding')) {
      // Body delimited by connection close.
      const { status, headers } = this.parsed;
      p({ status, headers, body: this.buf.subarray(this.parsed.bodyStart), keepAlive: false });
      return;
    }
    const sawBytes = this.buf.length > 0;
    p(
      sawBytes || wasClosed
        ? new WinrmConnectError('connection closed by the host in the middle of a response', 'ECONNRESET')
        : new ConnectionLostError('connection closed by the host', 'ECONNRESET'),
    );
  }

  private onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    if (!this.pending) return;
    let res: HttpResponse | undefined;
    try {
      if (this.buf.length + chunk.length > this.maxResponseBytes) throw tooLarge(this.maxResponseBytes);
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      res = this.tryParse();
    } catch (err) {
      this.destroy();
      this.pending(err as Error);
      return;
    }
    if (res) {
      // An idle connection must not pin the last read: a socket read can sit in a much larger
      // backing store, and a thousand idle connections would hold tens of megabytes.
      this.buf = EMPTY;
      this.parsed = undefined;
      if (!res.keepAlive) this.destroy();
      this.pending(res);
    }
  }

  private tryParse(): HttpResponse | undefined {
    if (!this.parsed) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.buf.length > 65536) throw new WinrmConnectError('HTTP response header too large', 'bad_http');
        return undefined;
      }
      const lines = this.buf.subarray(0, end).toString('latin1').split('\r\n');
      const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? '');
      if (!m) throw new WinrmConnectError('the host did not answer with HTTP', 'bad_http');
      const headers = new Map<string, string[]>();
      for (let k = 1; k < lines.length; k++) {
        const line = lines[k]!;
        const c = line.indexOf(':');
        if (c <= 0) continue;
        const name = line.slice(0, c).trim().toLowerCase();
        const value = line.slice(c + 1).trim();
        const list = headers.get(name);
        if (list) list.push(value);
        else headers.set(name, [value]);
      }
      const conn = (headers.get('connection') ?? []).join(',').toLowerCase();
      const keepAlive = m[1] === '1' ? !conn.includes('close') : conn.includes('keep-alive');
      this.parsed = { status: Number(m[2]), headers, bodyStart: end + 4, keepAlive };
    }
    const { status, headers, bodyStart, keepAlive } = this.parsed;
    const te = headers.get('transfer-encoding')?.join(',').toLowerCase();
    if (te?.includes('chunked')) {
      const body = decodeChunked(this.buf, bodyStart);
      return body ? { status, headers, body, keepAlive } : undefined;
    }
    const cl = headers.get('content-length')?.[0];
    if (cl !== undefined) {
      const len = Number(cl);
      if (!Number.isSafeInteger(len) || len < 0)
        throw new WinrmConnectError('bad Content-Length from host', 'bad_http');
      if (bodyStart + len > this.maxResponseBytes) throw tooLarge(this.maxResponseBytes);
      if (this.buf.length - bodyStart < len) return undefined;
      return { status, headers, body: this.buf.subarray(bodyStart, bodyStart + len), keepAlive };
    }
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
      return { status, headers, body: Buffer.alloc(0), keepAlive };
    }
    return undefined; // read until close
  }
}

function tooLarge(limit: number): WinrmConnectError {
  return new WinrmConnectError(
    `the host's response is larger than ${Math.round(limit / 1048576)} MiB; not a WinRM answer`,
    'bad_http',
  );
}

/** Returns the de-chunked body once the terminating chunk arrived, else undefined. */
function decodeChunked(buf: Buffer, start: number): Buffer | undefined {
  const parts: Buffer[] = [];
  let pos = start;
  for (;;) {
    const eol = buf.indexOf('\r\n', pos);
    if (eol < 0) return undefined;
    const size = parseInt(buf.subarray(pos, eol).toString('latin1').split(';')[0]!.trim(), 16);
    if (!Number.isFinite(size) || size < 0) throw new WinrmConnectError('bad chunked encoding from host', 'bad_http');
    pos = eol + 2;
    if (size === 0) {
      // Skip trailers up to the blank line.
      for (;;) {
        const t = buf.indexOf('\r\n', pos);
        if (t < 0) return undefined;
        if (t === pos) return Buffer.concat(parts);
        pos = t + 2;
      }
    }
    if (buf.length < pos + size + 2) return undefined;
    parts.push(buf.subarray(pos, pos + size));
    pos += size + 2;
  }
}

/** SHA-256 fingerprint (hex) of a PEM or DER certificate, as 'pin' mode expects it. */
export function certificateFingerprint(cert: string | Buffer): string {
  const x = new X509Certificate(cert);
  return normalizeFingerprint(x.fingerprint256);
}
