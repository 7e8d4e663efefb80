import { NtlmProtocolError } from './errors.ts';
import type { NtlmSession } from './session.ts';

// MS-WSMV 2.2.9.1.1: a SOAP message sealed with NTLM travels as a two-part MIME body whose part
// headers are TAB-indented, so it is framed and split by hand rather than with a MIME library.

export const ENCRYPTED_CONTENT_TYPE =
  'multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"';

const BOUNDARY = Buffer.from('--Encrypted Boundary\r\n', 'latin1');
const END = Buffer.from('--Encrypted Boundary--\r\n', 'latin1');
const OCTET_HEADER = Buffer.from('\tContent-Type: application/octet-stream\r\n', 'latin1');

export function encodeEncryptedMessage(session: NtlmSession, soap: Buffer): Buffer {
  const { sealed, signature } = session.seal(soap);
  const sigLen = Buffer.alloc(4);
  sigLen.writeUInt32LE(signature.length);
  const header =
    '\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n' +
    `\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=${soap.length}\r\n`;
  return Buffer.concat([
    BOUNDARY,
    Buffer.from(header, 'latin1'),
    BOUNDARY,
    OCTET_HEADER,
    sigLen,
    signature,
    sealed,
    END,
  ]);
}

export interface EncryptedParts {
  originalLength: number;
  signature: Buffer;
  sealed: Buffer;
}

export function splitEncryptedMessage(body: Buffer): EncryptedParts {
  if (!body.subarray(0, BOUNDARY.length).equals(BOUNDARY))
    throw new NtlmProtocolError('encrypted body does not start with the boundary');
  const second = body.indexOf(BOUNDARY, BOUNDARY.length);
  if (second < 0) throw new NtlmProtocolError('encrypted body has no second part');
  const header = body.subarray(BOUNDARY.length, second).toString('latin1');
  if (!/application\/HTTP-SPNEGO-session-encrypted/i.test(header))
    throw new NtlmProtocolError('encrypted body has an unexpected protocol');
  const m = /Length=(\d+)/.exec(header);
  if (!m) throw new NtlmProtocolError('encrypted body has no OriginalContent length');
  let pos = second + BOUNDARY.length;
  const eol = body.indexOf('\r\n', pos, 'latin1');
  if (eol < 0 || !/octet-stream/i.test(body.subarray(pos, eol).toString('latin1'))) {
    throw new NtlmProtocolError('encrypted body has no octet-stream part');
  }
  pos = eol + 2;
  if (pos + 4 > body.length) throw new NtlmProtocolError('encrypted body is truncated');
  const sigLen = body.readUInt32LE(pos);
  pos += 4;
  if (sigLen !== 16 || pos + sigLen > body.length)
    throw new NtlmProtocolError('encrypted body has a bad signature length');
  const signature = body.subarray(pos, pos + sigLen);
  pos += sigLen;
  const originalLength = Number(m[1]);
  let end = body.length;
  if (body.subarray(end - END.length).equals(END)) end -= END.length;
  else if (body.subarray(end - END.length + 2).equals(END.subarray(0, END.length - 2))) end -= END.length - 2;
  const sealed = body.subarray(pos, end);
  if (sealed.length !== originalLength)
    throw new NtlmProtocolError('encrypted body length does not match OriginalContent');
  return { originalLength, signature, sealed };
}

export function decodeEncryptedMessage(session: NtlmSession, body: Buffer): Buffer {
  const parts = splitEncryptedMessage(body);
  return session.unseal(parts.sealed, parts.signature);
}
