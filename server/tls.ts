import { createHash, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { ConfigError } from './config.ts';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** SHA-256 of the DER certificate, lowercase hex: what agents pin. */
  fingerprint: string;
  generated: boolean;
}

export const formatFingerprint = (hex: string): string => hex.toUpperCase().match(/../g)!.join(':');

/** The generated certificate's lifetime: agents pin it, so it is replaced only by hand (and re-enrolment). */
export const SELF_SIGNED_VALIDITY_DAYS = 3650;
/** Always in the generated certificate's subjectAltName; the configured names are added to these. */
const DEFAULT_NAMES = ['localhost', '127.0.0.1'];
const WILDCARD_ADDRESSES = new Set(['0.0.0.0', '::', '']);

/** The names a generated certificate is issued for: the defaults plus the configured ones (bind address, public URL host). */
export function selfSignedNames(configured: readonly (string | undefined)[]): string[] {
  const names = [...DEFAULT_NAMES];
  for (const raw of configured) {
    const n = raw?.replace(/^\[|\]$/g, '').toLowerCase();
    if (n === undefined || WILDCARD_ADDRESSES.has(n) || names.includes(n)) continue;
    names.push(n);
  }
  return names;
}

/**
 * A self-signed ECDSA P-256 certificate (SHA-256 signature) for `names`, made in-process with the
 * `selfsigned` library (WebCrypto underneath): PEM certificate and PKCS#8 key.
 */
export async function createSelfSigned(names: readonly string[]): Promise<{ cert: string; key: string }> {
  const notBeforeDate = new Date(Date.now() - 60_000); // a minute early: a peer's clock slightly behind still accepts it
  const notAfterDate = new Date(notBeforeDate.getTime() + SELF_SIGNED_VALIDITY_DAYS * 86_400_000);
  const pems = await generate([{ name: 'commonName', value: 'nmslite' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: names.map((n) => (isIP(n) ? { type: 7 as const, ip: n } : { type: 2 as const, value: n })),
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** Written beside and renamed into place, so a crash never leaves half a file; `mode` applies to the new file. */
function writeAtomic(path: string, data: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/**
 * The configured certificate, or a self-signed one generated once into DATA_DIR/tls (key 0600) and
 * reused on every later start (agents pin its fingerprint). `names` only shape a new certificate.
 */
export async function loadOrCreateTls(o: {
  certFile?: string | undefined;
  keyFile?: string | undefined;
  dataDir: string;
  /** Host names or addresses to add to a generated certificate's subjectAltName (wildcard binds are skipped). */
  names?: readonly (string | undefined)[];
}): Promise<TlsMaterial> {
  let certPath = o.certFile;
  let keyPath = o.keyFile;
  let generated = false;
  if (!!certPath !== !!keyPath)
    throw new ConfigError('server.tls_cert_file and server.tls_key_file must be set together');
  if (!certPath) {
    const dir = join(o.dataDir, 'tls');
    certPath = join(dir, 'server.crt');
    keyPath = join(dir, 'server.key');
    if (!existsSync(certPath) || !existsSync(keyPath)) {
      const made = await createSelfSigned(selfSignedNames(o.names ?? []));
      try {
        mkdirSync(dir, { recursive: true });
        writeAtomic(keyPath, made.key, 0o600);
        writeAtomic(certPath, made.cert, 0o644);
      } catch (err) {
        throw new ConfigError(`cannot write the generated TLS certificate into ${dir}: ${(err as Error).message}`);
      }
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
  let der: Buffer;
  try {
    der = new X509Certificate(cert).raw;
  } catch {
    throw new ConfigError(`${certPath} is not a PEM or DER X.509 certificate`);
  }
  return { cert, key, fingerprint: createHash('sha256').update(der).digest('hex'), generated };
}
