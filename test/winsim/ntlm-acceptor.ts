/**
 * What the simulator needs from NTLM on the server side (MS-NLMP 3.2.5): answer a NEGOTIATE with a
 * CHALLENGE, verify an NTLMv2 AUTHENTICATE against the host's password, then seal/unseal messages
 * (MS-WSMV 2.2.9.1.1 framing) with per-direction RC4 state and sequence numbers.
 */
export interface NtlmAcceptor {
  /** Returns the CHALLENGE token and the state to keep on the connection until AUTHENTICATE. */
  challenge(negotiate: Buffer): { token: Buffer; pending: unknown };
  /** undefined when the response does not prove knowledge of the password. */
  authenticate(
    pending: unknown,
    authenticate: Buffer,
    password: string,
  ): { user: string; domain: string; session: NtlmServerSession } | undefined;
}

export interface NtlmServerSession {
  /** multipart/encrypted body → plaintext SOAP; throws when the signature or length does not check out. */
  decryptRequest(body: Buffer): Buffer;
  /** plaintext SOAP → multipart/encrypted body. */
  encryptResponse(plain: Buffer): Buffer;
}

export const ENCRYPTED_CONTENT_TYPE =
  'multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"';
