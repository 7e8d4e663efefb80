/**
 * The hash RFC 5929 §4.1 prescribes for `tls-server-end-point` channel bindings: the one the
 * certificate's own signature uses, except MD5 and SHA-1, which become SHA-256. Windows compares
 * the binding the client sends with one it computes the same way, so a SHA-384 certificate hashed
 * with SHA-256 is an authentication failure.
 */

const HASH_BY_SIGNATURE_OID: Record<string, string> = {
  '1.2.840.113549.1.1.4': 'sha256', // md5WithRSAEncryption
  '1.2.840.113549.1.1.5': 'sha256', // sha1WithRSAEncryption
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.10045.4.1': 'sha256', // ecdsa-with-SHA1
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.10040.4.3': 'sha256', // dsa-with-sha1
  '2.16.840.1.101.3.4.3.2': 'sha256', // dsa-with-sha256
};
const HASH_BY_DIGEST_OID: Record<string, string> = {
  '1.3.14.3.2.26': 'sha256', // sha1
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
  '2.16.840.1.101.3.4.2.4': 'sha224',
};
const RSASSA_PSS = '1.2.840.113549.1.1.10';

interface Tlv {
  tag: number;
  start: number;
  end: number;
}

function tlv(der: Uint8Array, pos: number, limit = der.length): Tlv {
  if (pos + 2 > limit) throw new Error('truncated DER');
  const tag = der[pos]!;
  let len = der[pos + 1]!;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 4 || start + n > limit) throw new Error('bad DER length');
    len = 0;
    for (let k = 0; k < n; k++) len = len * 256 + der[start + k]!;
    start += n;
  }
  if (start + len > limit) throw new Error('truncated DER');
  return { tag, start, end: start + len };
}

function oid(der: Uint8Array, t: Tlv): string {
  if (t.tag !== 0x06 || t.end <= t.start) throw new Error('expected an OID');
  const first = der[t.start]!;
  const parts = [Math.min(2, Math.floor(first / 40)), first - 40 * Math.min(2, Math.floor(first / 40))];
  let v = 0;
  for (let k = t.start + 1; k < t.end; k++) {
    v = v * 128 + (der[k]! & 0x7f);
    if (!(der[k]! & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

/** RSASSA-PSS parameters: `[0] hashAlgorithm` (default SHA-1). */
function pssHash(der: Uint8Array, params: Tlv | undefined): string {
  if (params?.tag !== 0x30 || params.start === params.end) return 'sha256';
  const first = tlv(der, params.start, params.end);
  if (first.tag !== 0xa0) return 'sha256';
  const alg = tlv(der, first.start, first.end);
  return HASH_BY_DIGEST_OID[oid(der, tlv(der, alg.start, alg.end))] ?? 'sha256';
}

/** Node hash name for the certificate's channel binding; SHA-256 when the DER cannot be read or the algorithm is unknown. */
export function channelBindingHashAlgorithm(certDer: Uint8Array): string {
  try {
    const cert = tlv(certDer, 0);
    const tbs = tlv(certDer, cert.start, cert.end);
    const algId = tlv(certDer, tbs.end, cert.end);
    const algOidTlv = tlv(certDer, algId.start, algId.end);
    const sigOid = oid(certDer, algOidTlv);
    if (sigOid === RSASSA_PSS)
      return pssHash(certDer, algOidTlv.end < algId.end ? tlv(certDer, algOidTlv.end, algId.end) : undefined);
    return HASH_BY_SIGNATURE_OID[sigOid] ?? 'sha256';
  } catch {
    return 'sha256';
  }
}
