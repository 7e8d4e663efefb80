// MS-WSMV 2.2.9.1.1 multipart/encrypted body, byte for byte as Windows and pywinrm write it
// (note the TAB-indented part headers: generic MIME parsers reject them, so it is split by hand).

const BOUNDARY = Buffer.from('--Encrypted Boundary\r\n', 'latin1');
const END = Buffer.from('--Encrypted Boundary--\r\n', 'latin1');
const PROTOCOL_HEADER = '\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n';
const OCTET_HEADER = Buffer.from('\tContent-Type: application/octet-stream\r\n', 'latin1');

export function encodeEncryptedBody(signature: Buffer, sealed: Buffer, plainLength: number): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32LE(signature.length);
  return Buffer.concat([
    BOUNDARY,
    Buffer.from(
      `${PROTOCOL_HEADER}\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=${plainLength}\r\n`,
      'latin1',
    ),
    BOUNDARY,
    OCTET_HEADER,
    length,
    signature,
    sealed,
    END,
  ]);
}

export function decodeEncryptedBody(body: Buffer): { signature: Buffer; sealed: Buffer; length: number } {
  if (!body.subarray(0, BOUNDARY.length).equals(BOUNDARY)) throw new Error('not an encrypted body');
  const second = body.indexOf(BOUNDARY, BOUNDARY.length);
  if (second < 0) throw new Error('missing second MIME part');
  const header = body.subarray(BOUNDARY.length, second).toString('latin1');
  const m = /Length=(\d+)/.exec(header);
  if (!m) throw new Error('missing OriginalContent Length');
  let pos = second + BOUNDARY.length;
  if (!body.subarray(pos, pos + OCTET_HEADER.length).equals(OCTET_HEADER))
    throw new Error('missing octet-stream part header');
  pos += OCTET_HEADER.length;
  const sigLen = body.readUInt32LE(pos);
  pos += 4;
  const signature = body.subarray(pos, pos + sigLen);
  pos += sigLen;
  let end = body.length;
  if (body.subarray(end - END.length).equals(END)) end -= END.length;
  return { signature, sealed: body.subarray(pos, end), length: Number(m[1]) };
}
