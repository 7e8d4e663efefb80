import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { winrmFixture } from '../../helpers/fixtures.ts';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certificateFingerprint } from '../../../agent/winrm/http-connection.ts';

/**
 * A tiny WinRM stand-in for client tests: real HTTP(S) on loopback, Basic auth, answers chosen
 * by the test (usually real captures from ../shared/fixtures/winrm, read in place, with RelatesTo
 * rewritten to the request's MessageID). Not a simulator: it only replays.
 */

export const fixture = winrmFixture;

export interface ReplayRequest {
  action: string;
  messageId: string;
  xml: string;
  headers: http.IncomingHttpHeaders;
  connection: number;
}

export type ReplayAnswer = { status?: number; xml: string; headers?: Record<string, string> } | 'hang' | 'drop';
export type ReplayHandler = (req: ReplayRequest) => ReplayAnswer;

export interface ReplayServer {
  port: number;
  url: string;
  certPem: string;
  fingerprint: string;
  requests: ReplayRequest[];
  /** TCP connections accepted so far. */
  connections: () => number;
  /** Closes every idle keep-alive socket, as Windows does after its idle timeout. */
  dropIdle: () => void;
  close: () => Promise<void>;
}

let cert: { key: string; cert: string } | undefined;
function selfSignedCert(): { key: string; cert: string } {
  if (cert) return cert;
  const dir = mkdtempSync(join(tmpdir(), 'winrm-replay-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
      ],
      { stdio: 'ignore' },
    );
    cert = { key: readFileSync(join(dir, 'k.pem'), 'utf8'), cert: readFileSync(join(dir, 'c.pem'), 'utf8') };
    return cert;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Puts the request's MessageID into the capture's RelatesTo (captures carry their own). */
export function relate(xml: string, messageId: string): string {
  return xml.replace(/(<(\w+:)?RelatesTo>)[^<]*(<\/(\w+:)?RelatesTo>)/, `$1${messageId}$3`);
}

export function reply(name: string, req: ReplayRequest, status = 200): ReplayAnswer {
  return { status, xml: relate(fixture(name), req.messageId) };
}

export async function startReplayServer(o: {
  https?: boolean;
  user?: string;
  password?: string;
  handler: ReplayHandler;
}): Promise<ReplayServer> {
  const expected = `Basic ${Buffer.from(`${o.user ?? 'admin'}:${o.password ?? 'secret'}`).toString('base64')}`;
  const requests: ReplayRequest[] = [];
  const sockets = new Map<Socket, number>();
  const busy = new Set<Socket>();
  let accepted = 0;
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const socket = req.socket;
      busy.add(socket);
      res.on('finish', () => busy.delete(socket));
      const xml = Buffer.concat(chunks).toString('utf8');
      const anonymous = req.headers.wsmanidentify === 'unauthenticated';
      if (!anonymous && req.headers.authorization !== expected) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="WSMAN"', Connection: 'close', 'Content-Length': '0' });
        res.end();
        return;
      }
      const action = /<(?:\w+:)?Action[^>]*>([^<]*)</.exec(xml)?.[1] ?? (xml.includes('Identify') ? 'Identify' : '');
      const messageId = /<(?:\w+:)?MessageID>([^<]*)</.exec(xml)?.[1] ?? '';
      const r: ReplayRequest = {
        action: action.slice(action.lastIndexOf('/') + 1),
        messageId,
        xml,
        headers: req.headers,
        connection: sockets.get(socket) ?? -1,
      };
      requests.push(r);
      let answer: ReplayAnswer | 'hang' | 'drop';
      try {
        answer = o.handler(r);
      } catch (err) {
        // A handler that throws (say, a missing fixture) answers 500 instead of leaving the client hanging.
        answer = { status: 500, xml: `replay handler failed: ${(err as Error).message}` };
      }
      if (answer === 'hang') return;
      if (answer === 'drop') {
        socket.destroy();
        return;
      }
      const body = Buffer.from(answer.xml, 'utf8');
      res.writeHead(answer.status ?? 200, {
        'Content-Type': 'application/soap+xml;charset=UTF-8',
        'Content-Length': String(body.length),
        Server: 'Microsoft-HTTPAPI/2.0',
        ...answer.headers,
      });
      res.end(body);
    });
  };
  const server = o.https
    ? https.createServer({ ...selfSignedCert(), keepAlive: true }, onRequest)
    : http.createServer({ keepAlive: true }, onRequest);
  server.keepAliveTimeout = 60000;
  const onConn = (s: Socket) => {
    sockets.set(s, ++accepted);
    s.on('close', () => sockets.delete(s));
  };
  server.on(o.https ? 'secureConnection' : 'connection', onConn);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const pem = o.https ? selfSignedCert().cert : '';
  return {
    port,
    url: `${o.https ? 'https' : 'http'}://127.0.0.1:${port}/wsman`,
    certPem: pem,
    fingerprint: pem ? certificateFingerprint(pem) : '',
    requests,
    connections: () => accepted,
    dropIdle: () => {
      for (const s of sockets.keys()) if (!busy.has(s)) s.destroy();
    },
    close: async () => {
      for (const s of sockets.keys()) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
