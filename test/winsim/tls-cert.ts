import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

export interface SelfSignedCert {
  key: string;
  cert: string;
  /** SHA-256 of the DER certificate, colon-separated upper-case hex (as Node's X509Certificate prints it). */
  fingerprint: string;
}

let cached: Promise<SelfSignedCert> | undefined;

/** One self-signed ECDSA certificate per process (CN=winsim, SAN 127.0.0.1/localhost), made with the openssl CLI. */
export function selfSignedCert(): Promise<SelfSignedCert> {
  cached ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'winsim-tls-'));
    try {
      const keyPath = join(dir, 'key.pem');
      const certPath = join(dir, 'cert.pem');
      await promisify(execFile)('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyPath,
        '-out',
        certPath,
        '-days',
        '30',
        '-subj',
        '/CN=winsim',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-addext',
        'extendedKeyUsage=serverAuth',
      ]);
      const [key, cert] = await Promise.all([readFile(keyPath, 'utf8'), readFile(certPath, 'utf8')]);
      return { key, cert, fingerprint: new X509Certificate(cert).fingerprint256 };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return cached;
}
