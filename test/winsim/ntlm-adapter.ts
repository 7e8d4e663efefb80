import type { NtlmAcceptor } from './ntlm-acceptor.ts';
import { createNtlmAcceptor } from './ntlm/ntlm-server.ts';

/**
 * Server-side NTLM for one host. The simulator carries its own (test/winsim/ntlm/) so it stands apart
 * from the agent's client implementation: a bug shared by both sides could not hide behind a passing test.
 */
export function ntlmAcceptorFor(computerName: string): NtlmAcceptor {
  return createNtlmAcceptor({ computerName });
}
