/** A malformed or unacceptable NTLM token or sealed message. Never carries key material. */
export class NtlmProtocolError extends Error {
  override readonly name = 'NtlmProtocolError';
}
