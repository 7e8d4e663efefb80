// MD4 (RFC 1320). Node 20's OpenSSL 3 refuses it, and NTLM's NT hash needs it.

const rotl = (x: number, n: number): number => (x << n) | (x >>> (32 - n));

export function md4(input: Uint8Array): Buffer {
  const bitLen = input.length * 8;
  const padLen = (((input.length + 8) >> 6) + 1) << 6;
  const msg = Buffer.alloc(padLen);
  msg.set(input);
  msg[input.length] = 0x80;
  msg.writeUInt32LE(bitLen >>> 0, padLen - 8);
  msg.writeUInt32LE(Math.floor(bitLen / 0x100000000), padLen - 4);

  let a = 0x67452301;
  let b = 0xefcdab89;
  let c = 0x98badcfe;
  let d = 0x10325476;
  const x = new Array<number>(16);
  const F = (p: number, q: number, r: number) => (p & q) | (~p & r);
  const G = (p: number, q: number, r: number) => (p & q) | (p & r) | (q & r);
  const H = (p: number, q: number, r: number) => p ^ q ^ r;

  for (let off = 0; off < padLen; off += 64) {
    for (let i = 0; i < 16; i++) x[i] = msg.readUInt32LE(off + i * 4);
    const [aa, bb, cc, dd] = [a, b, c, d];
    const r1 = [3, 7, 11, 19];
    for (let i = 0; i < 16; i++) {
      const s = r1[i % 4]!;
      const k = i;
      if (i % 4 === 0) a = rotl((a + F(b, c, d) + x[k]!) | 0, s);
      else if (i % 4 === 1) d = rotl((d + F(a, b, c) + x[k]!) | 0, s);
      else if (i % 4 === 2) c = rotl((c + F(d, a, b) + x[k]!) | 0, s);
      else b = rotl((b + F(c, d, a) + x[k]!) | 0, s);
    }
    const r2 = [3, 5, 9, 13];
    for (let i = 0; i < 16; i++) {
      const s = r2[i % 4]!;
      const k = (i % 4) * 4 + Math.floor(i / 4);
      const t = 0x5a827999;
      if (i % 4 === 0) a = rotl((a + G(b, c, d) + x[k]! + t) | 0, s);
      else if (i % 4 === 1) d = rotl((d + G(a, b, c) + x[k]! + t) | 0, s);
      else if (i % 4 === 2) c = rotl((c + G(d, a, b) + x[k]! + t) | 0, s);
      else b = rotl((b + G(c, d, a) + x[k]! + t) | 0, s);
    }
    const r3 = [3, 9, 11, 15];
    const order3 = [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15];
    for (let i = 0; i < 16; i++) {
      const s = r3[i % 4]!;
      const k = order3[i]!;
      const t = 0x6ed9eba1;
      if (i % 4 === 0) a = rotl((a + H(b, c, d) + x[k]! + t) | 0, s);
      else if (i % 4 === 1) d = rotl((d + H(a, b, c) + x[k]! + t) | 0, s);
      else if (i % 4 === 2) c = rotl((c + H(d, a, b) + x[k]! + t) | 0, s);
      else b = rotl((b + H(c, d, a) + x[k]! + t) | 0, s);
    }
    a = (a + aa) | 0;
    b = (b + bb) | 0;
    c = (c + cc) | 0;
    d = (d + dd) | 0;
  }
  const out = Buffer.alloc(16);
  out.writeInt32LE(a, 0);
  out.writeInt32LE(b, 4);
  out.writeInt32LE(c, 8);
  out.writeInt32LE(d, 12);
  return out;
}
