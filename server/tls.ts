import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from './config.ts';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** SHA-256 of the DER certificate, lowercase hex: what agents pin. */
  fingerprint: string;
  generated: boolean;
}

export const formatFingerprint = (hex: string): string => hex.toUpperCase().match(/../g)!.join(':');

/** The configured certificate, or a self-signed one generated once into the data dir and reused. */
export function loadOrCreateTls(o: {
  certFile?: string | undefined;
  keyFile?: string | undefined;
  dataDir: string;
}): TlsMaterial {
  let certPath = o.certFile;
  let keyPath = o.keyFile;
  let generated = false;
  if (!!certPath !== !!keyPath)
    throw new ConfigError('server.tls_cert_file and server.tls_key_file must be set together');
  if (!certPath) {
    certPath = join(o.dataDir, 'tls', 'server.crt');
    keyPath = join(o.dataDir, 'tls', 'server.key');
    if (!existsSync(certPath) || !existsSync(keyPath)) {
      execFileSync('mkdir', ['-p', join(o.dataDir, 'tls')]);
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
          '3650',
          '-subj',
          '/CN=nmslite',
          '-addext',
          'subjectAltName=DNS:localhost,IP:127.0.0.1',
          '-keyout',
          keyPath,
          '-out',
          certPath,
        ],
        { stdio: 'ignore' },
      );
      chmodSync(keyPath, 0o600);
      generated = true;
    }
  }
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(certPath);
    key = readFileSync(keyPath!);
  } catch {
    throw new ConfigError(`TLS certificate or key cannot be read (${certPath}, ${keyPath})`);
  }
  const der = new X509Certificate(cert).raw;
  return { cert, key, fingerprint: createHash('sha256').update(der).digest('hex'), generated };
}
