import { createHash, X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

/** Normalises `AB:CD:…`, `sha256:abcd…` or plain hex to lowercase hex without separators. */
export function normalizeFingerprint(fp: string): string {
  return fp
    .replace(/^sha-?256[:=]?/i, '')
    .replace(/[^0-9a-f]/gi, '')
    .toLowerCase();
}

/** Lowercase hex → `AB:CD:…`, as the server prints its own fingerprint. */
export const formatFingerprint = (hex: string): string => hex.toUpperCase().match(/../g)?.join(':') ?? '';

export function certFingerprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

export function peerFingerprint(socket: TLSSocket): string | undefined {
  const cert = socket.getPeerCertificate(false);
  return cert?.raw ? certFingerprint(cert.raw) : undefined;
}

export class PinMismatchError extends Error {
  override readonly name = 'PinMismatchError';
  constructor(expected: string, got: string | undefined) {
    super(
      `the server's TLS certificate changed (pinned sha256 ${expected.slice(0, 16)}…, presented ${got ? `${got.slice(0, 16)}…` : 'none'}); ` +
        'refusing to connect. If the server certificate was replaced on purpose, enroll this agent again.',
    );
  }
}

/** For display: the subject of a DER certificate. */
export const certSubject = (der: Buffer): string => new X509Certificate(der).subject.replace(/\n/g, ', ');
