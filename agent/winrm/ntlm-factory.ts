import type { NtlmFactory } from './transport.ts';

/** Placeholder until agent/winrm/ntlm lands: NTLM is wired here, in one place. */
export const defaultNtlmFactory: NtlmFactory = () => {
  throw new Error('NTLM is not available in this build');
};
