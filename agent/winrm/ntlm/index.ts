/**
 * NTLMv2 for WinRM, in pure TypeScript (Node 20's OpenSSL refuses MD4 and RC4). No NTLMv1.
 *
 * - createNtlmClient(creds) → { negotiate(), authenticate(challenge, peerCertDer?), session() }
 * - createNtlmSession(exportedSessionKey, isServer) → { seal(plain), unseal(sealed, signature) }
 * - encodeEncryptedMessage(session, soap) / decodeEncryptedMessage(session, body): MS-WSMV
 *   multipart/encrypted bodies; ENCRYPTED_CONTENT_TYPE is the request Content-Type.
 * - NtlmProtocolError: any malformed token, refused challenge or failed signature.
 */
export { createNtlmClient, splitUser, type NtlmClientContext, type NtlmCredentials } from './client.ts';
export { createNtlmSession, type NtlmSession } from './session.ts';
export {
  ENCRYPTED_CONTENT_TYPE,
  decodeEncryptedMessage,
  encodeEncryptedMessage,
  splitEncryptedMessage,
} from './encrypted-message.ts';
export { NtlmProtocolError } from './errors.ts';
