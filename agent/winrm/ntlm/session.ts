import { hmacMd5, deriveSessionKeys } from './crypto.ts';
import { NtlmProtocolError } from './errors.ts';
import { Rc4 } from './rc4.ts';

/**
 * NTLM session security with extended session security and key exchange (MS-NLMP 3.4.3, 3.4.4.2):
 * one RC4 keystream and one sequence counter per direction, both kept for the connection's life.
 * The signature's checksum is encrypted with the same keystream that sealed the message.
 */
export interface NtlmSession {
  seal(plain: Buffer): { sealed: Buffer; signature: Buffer };
  unseal(sealed: Buffer, signature: Buffer): Buffer;
}

interface Direction {
  signKey: Buffer;
  rc4: Rc4;
  seq: number;
}

export function createNtlmSession(exportedSessionKey: Buffer, isServer: boolean): NtlmSession {
  const keys = deriveSessionKeys(exportedSessionKey);
  const client: Direction = { signKey: keys.clientSign, rc4: new Rc4(keys.clientSeal), seq: 0 };
  const server: Direction = { signKey: keys.serverSign, rc4: new Rc4(keys.serverSeal), seq: 0 };
  const out = isServer ? server : client;
  const inn = isServer ? client : server;

  const checksum = (d: Direction, seq: number, plain: Buffer): Buffer => {
    const seqBuf = Buffer.alloc(4);
    seqBuf.writeUInt32LE(seq);
    return hmacMd5(d.signKey, seqBuf, plain).subarray(0, 8);
  };

  return {
    seal(plain) {
      const seq = out.seq++;
      const sealed = out.rc4.update(plain);
      const signature = Buffer.alloc(16);
      signature.writeUInt32LE(1, 0);
      out.rc4.update(checksum(out, seq, plain)).copy(signature, 4);
      signature.writeUInt32LE(seq, 12);
      return { sealed, signature };
    },
    unseal(sealed, signature) {
      if (signature.length !== 16 || signature.readUInt32LE(0) !== 1)
        throw new NtlmProtocolError('bad NTLM signature header');
      const seq = inn.seq++;
      const plain = inn.rc4.update(sealed);
      const expected = inn.rc4.update(checksum(inn, seq, plain));
      if (signature.readUInt32LE(12) !== seq) throw new NtlmProtocolError('NTLM sequence number out of order');
      if (!expected.equals(signature.subarray(4, 12))) throw new NtlmProtocolError('NTLM signature does not verify');
      return plain;
    },
  };
}
