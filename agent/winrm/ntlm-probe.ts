import { CLIENT_FLAGS } from './ntlm/flags.ts';
import { buildNegotiate } from './ntlm/messages.ts';
import { readNtlmTarget, type NtlmTarget } from './ntlm/target-info.ts';
import { Transport } from './transport.ts';

export type { NtlmTarget } from './ntlm/target-info.ts';

export interface NtlmProbeOptions {
  host: string;
  port: number;
  https: boolean;
  connectTimeoutMs: number;
  readTimeoutMs: number;
}

/**
 * The names and OS version a WinRM listener claims in its NTLM CHALLENGE, without a credential:
 * NEGOTIATE → CHALLENGE, then the connection is dropped (no AUTHENTICATE is ever sent). The
 * certificate is not checked, as nothing secret travels. Undefined when the host offers no NTLM;
 * throws WinrmError for connection trouble and NtlmProtocolError for a malformed CHALLENGE.
 */
export async function probeNtlmTarget(o: NtlmProbeOptions): Promise<NtlmTarget | undefined> {
  const transport = new Transport({
    host: o.host,
    port: o.port,
    https: o.https,
    tls: { mode: 'insecure' },
    auth: 'basic',
    credentials: { username: '', password: '' },
    connectTimeoutMs: o.connectTimeoutMs,
    readTimeoutMs: o.readTimeoutMs,
    maxConnections: 1,
  });
  try {
    const token = await transport.challengeAnonymous(buildNegotiate(CLIENT_FLAGS));
    return token ? readNtlmTarget(token) : undefined;
  } finally {
    transport.close();
  }
}
