import { createHash, X509Certificate } from 'node:crypto';
import { z } from 'zod';

/** The ready-to-paste install commands returned with a new enrollment token (POST /agents and reissue). */
export const InstallCommands = z.object({
  /** Where the commands and the scripts point agents (server.public_url, or this machine's host name). */
  server_url: z.string(),
  /** Paste as a user who can sudo; null when this server has no Linux agent binary to hand out (see notes). */
  linux: z.string().nullable(),
  /** Paste into an elevated PowerShell; null when this server has no Windows agent binary. */
  windows: z.string().nullable(),
  notes: z.array(z.string()),
});
export type InstallCommands = z.infer<typeof InstallCommands>;

export const TOKEN_ENV = 'NMSLITE_ENROLL_TOKEN';

/** curl's --pinnedpubkey value: base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo (DER). */
export function spkiPin(certPem: Buffer | string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/** A POSIX sh single-quoted word. */
export const shQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
/** A PowerShell single-quoted string. */
export const psQuote = (s: string): string => `'${s.replace(/'/g, "''")}'`;

export interface InstallTarget {
  /** https://host:port (no trailing slash). */
  baseUrl: string;
  /** SHA-256 of the certificate's SPKI, base64 (curl). */
  pin: string;
  /** SHA-256 of the DER certificate, hex (what agents pin; the PowerShell check). */
  fingerprint: string;
}

/**
 * The Linux line keeps the token out of every process's argv: it is set in the environment of sudo
 * (which passes on only that variable) and read by the script and the agent from there.
 * `-k` turns off curl's CA check only: the pinned key is still enforced (self-signed certificates).
 */
export function linuxCommand(t: InstallTarget, token: string): string {
  const curl = `curl -fsS -k --pinnedpubkey ${shQuote(`sha256//${t.pin}`)} ${shQuote(`${t.baseUrl}/install/agent.sh`)}`;
  return `${curl} | ${TOKEN_ENV}=${shQuote(token)} sudo --preserve-env=${TOKEN_ENV} sh -s -- --token-env ${TOKEN_ENV}`;
}

/** For an elevated PowerShell: the script is fetched over a connection checked against the certificate's fingerprint. */
export function windowsCommand(t: InstallTarget, token: string): string {
  const fp = t.fingerprint.toUpperCase();
  return [
    `$env:${TOKEN_ENV}=${psQuote(token)}`,
    '[Net.ServicePointManager]::SecurityProtocol=[Net.SecurityProtocolType]::Tls12',
    // The certificate's DER SHA-256 (as the agent pins it); any other certificate is refused.
    '[Net.ServicePointManager]::ServerCertificateValidationCallback={param($s,$c) ' +
      `[BitConverter]::ToString([Security.Cryptography.SHA256]::Create().ComputeHash($c.GetRawCertData())).Replace('-','') -eq '${fp}'}`,
    `& ([scriptblock]::Create((New-Object Net.WebClient).DownloadString(${psQuote(`${t.baseUrl}/install/agent.ps1`)}))) -TokenEnv ${TOKEN_ENV}`,
  ].join('; ');
}
