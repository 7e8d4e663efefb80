// RC4 keystream in TypeScript (Node 20's OpenSSL 3 refuses 'rc4'). One instance per direction: NTLM
// sealing continues the same keystream across messages (MS-NLMP 3.4.3).
export class Rc4 {
  private readonly s = new Uint8Array(256);
  private i = 0;
  private j = 0;

  constructor(key: Uint8Array) {
    for (let k = 0; k < 256; k++) this.s[k] = k;
    let j = 0;
    for (let k = 0; k < 256; k++) {
      j = (j + this.s[k]! + key[k % key.length]!) & 255;
      [this.s[k], this.s[j]] = [this.s[j]!, this.s[k]!];
    }
  }

  update(data: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(data.length);
    const s = this.s;
    let { i, j } = this;
    const n = data.length;
    for (let k = 0; k < n; k++) {
      i = (i + 1) & 255;
      const a = s[i]!;
      j = (j + a) & 255;
      const b = s[j]!;
      s[i] = b;
      s[j] = a;
      out[k] = data[k]! ^ s[(a + b) & 255]!;
    }
    this.i = i;
    this.j = j;
    return out;
  }
}

export function rc4Once(key: Uint8Array, data: Uint8Array): Buffer {
  return new Rc4(key).update(data);
}
