import {
  createNtlmClient,
  decodeEncryptedMessage,
  encodeEncryptedMessage,
  ENCRYPTED_CONTENT_TYPE,
} from './ntlm/index.ts';
import type { NtlmFactory } from './transport.ts';

/** One NTLM context per connection; its sealer frames SOAP as MS-WSMV multipart/encrypted. */
export const defaultNtlmFactory: NtlmFactory = (creds) => {
  const ctx = createNtlmClient(creds);
  return {
    negotiate: () => ctx.negotiate(),
    authenticate: (challenge, peerCertDer) => ctx.authenticate(challenge, peerCertDer),
    sealer() {
      const session = ctx.session();
      return {
        wrap: (soap) => ({ body: encodeEncryptedMessage(session, soap), contentType: ENCRYPTED_CONTENT_TYPE }),
        unwrap: (body) => decodeEncryptedMessage(session, body),
      };
    },
  };
};
