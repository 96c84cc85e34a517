import { timingSafeEqual } from 'node:crypto';
import type { IdSource } from '../runtime/ids.js';

/**
 * bcrypt ($2a$, cost 10 by default) for the admin password hash the legacy keeps in
 * `session:admin_credentials.passwordHash` (bcryptjs 2.4.3: UTF-8 password bytes plus a NUL
 * terminator, at most 72 bytes used; crypto.md §4). Written from the published algorithm
 * (Provos & Mazières, "A Future-Adaptable Password Scheme"): EksBlowfish key schedule, 64
 * encryptions of "OrpheanBeholderScryDoubt", bcrypt's own base64 alphabet.
 *
 * Blowfish's initial state is the fractional hex digits of pi; instead of embedding 1042
 * constants we compute them once with BigInt (Machin's formula), which takes a few ms.
 */

const WORDS = 18 + 4 * 256;
let piWords: Uint32Array | null = null;

/** The first 1042 32-bit words of pi's fractional part (P-array then S-boxes). */
export function piState(): Uint32Array {
  if (piWords) return piWords;
  const hexDigits = WORDS * 8;
  const bits = BigInt(hexDigits * 4 + 64);
  const one = 1n << bits;
  const arctanInv = (x: bigint): bigint => {
    const x2 = x * x;
    let power = one / x;
    let sum = power;
    for (let k = 1n; power !== 0n; k++) {
      power /= x2;
      const term = power / (2n * k + 1n);
      sum = k % 2n === 1n ? sum - term : sum + term;
    }
    return sum;
  };
  const pi = 16n * arctanInv(5n) - 4n * arctanInv(239n);
  const frac = (pi - 3n * one) >> 64n; // drop the guard bits
  const hex = frac.toString(16).padStart(hexDigits, '0');
  const out = new Uint32Array(WORDS);
  for (let i = 0; i < WORDS; i++) out[i] = Number.parseInt(hex.slice(i * 8, i * 8 + 8), 16);
  piWords = out;
  return out;
}

const B64 = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function bcryptBase64Encode(bytes: Uint8Array, length: number): string {
  let out = '';
  for (let i = 0; i < length; i += 3) {
    const b0 = bytes[i]!;
    const b1 = i + 1 < length ? bytes[i + 1]! : 0;
    const b2 = i + 2 < length ? bytes[i + 2]! : 0;
    out += B64[b0 >> 2]! + B64[((b0 & 3) << 4) | (b1 >> 4)]!;
    if (i + 1 < length) out += B64[((b1 & 15) << 2) | (b2 >> 6)]!;
    if (i + 2 < length) out += B64[b2 & 63]!;
  }
  return out;
}

export function bcryptBase64Decode(text: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let bits = 0;
  let acc = 0;
  let n = 0;
  for (const ch of text) {
    const v = B64.indexOf(ch);
    if (v < 0) throw new Error('invalid bcrypt base64');
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n < length) out[n++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

class Blowfish {
  readonly P: Uint32Array;
  readonly S: Uint32Array;
  constructor() {
    const init = piState();
    this.P = init.slice(0, 18);
    this.S = init.slice(18);
  }

  private f(x: number): number {
    const S = this.S;
    return ((((S[x >>> 24]! + S[256 + ((x >>> 16) & 0xff)]!) >>> 0) ^ S[512 + ((x >>> 8) & 0xff)]!) + S[768 + (x & 0xff)]!) >>> 0;
  }

  /** Encrypt (l, r) in place in `lr` at offset `o`. */
  encrypt(lr: Uint32Array, o: number): void {
    const P = this.P;
    let l = lr[o]!;
    let r = lr[o + 1]!;
    for (let i = 0; i < 16; i += 2) {
      l = (l ^ P[i]!) >>> 0;
      r = (r ^ this.f(l)) >>> 0;
      r = (r ^ P[i + 1]!) >>> 0;
      l = (l ^ this.f(r)) >>> 0;
    }
    l = (l ^ P[16]!) >>> 0;
    r = (r ^ P[17]!) >>> 0;
    lr[o] = r;
    lr[o + 1] = l;
  }

  /** ExpandKey(state, salt, key); salt null = Expand0State(key). */
  expand(key: Uint8Array, salt: Uint8Array | null): void {
    let kp = 0;
    const keyWord = (): number => {
      let w = 0;
      for (let i = 0; i < 4; i++) {
        w = ((w << 8) | key[kp]!) >>> 0;
        kp = (kp + 1) % key.length;
      }
      return w;
    };
    let sp = 0;
    const saltWord = (): number => {
      if (!salt) return 0;
      let w = 0;
      for (let i = 0; i < 4; i++) {
        w = ((w << 8) | salt[sp]!) >>> 0;
        sp = (sp + 1) % salt.length;
      }
      return w;
    };
    for (let i = 0; i < 18; i++) this.P[i] = (this.P[i]! ^ keyWord()) >>> 0;
    const lr = new Uint32Array(2);
    for (let i = 0; i < 18; i += 2) {
      lr[0] = (lr[0]! ^ saltWord()) >>> 0;
      lr[1] = (lr[1]! ^ saltWord()) >>> 0;
      this.encrypt(lr, 0);
      this.P[i] = lr[0]!;
      this.P[i + 1] = lr[1]!;
    }
    for (let i = 0; i < 1024; i += 2) {
      lr[0] = (lr[0]! ^ saltWord()) >>> 0;
      lr[1] = (lr[1]! ^ saltWord()) >>> 0;
      this.encrypt(lr, 0);
      this.S[i] = lr[0]!;
      this.S[i + 1] = lr[1]!;
    }
  }
}

/** Raw bcrypt: 23 bytes of the final ciphertext. */
function bcryptRaw(password: Uint8Array, salt: Uint8Array, cost: number): Uint8Array {
  const bf = new Blowfish();
  bf.expand(password, salt);
  const rounds = 2 ** cost;
  for (let i = 0; i < rounds; i++) {
    bf.expand(password, null);
    bf.expand(salt, null);
  }
  const magic = Buffer.from('OrpheanBeholderScryDoubt', 'latin1');
  const c = new Uint32Array(6);
  for (let i = 0; i < 6; i++) c[i] = magic.readUInt32BE(i * 4);
  for (let i = 0; i < 64; i++) for (let j = 0; j < 6; j += 2) bf.encrypt(c, j);
  const out = Buffer.alloc(24);
  for (let i = 0; i < 6; i++) out.writeUInt32BE(c[i]!, i * 4);
  return out.subarray(0, 23);
}

function passwordBytes(password: string): Uint8Array {
  const b = Buffer.concat([Buffer.from(password, 'utf8'), Buffer.from([0])]);
  return b.length > 72 ? b.subarray(0, 72) : b;
}

/** `$2a$` + 2-digit cost + `$` + 22-char salt + 31-char hash (60 chars). */
export function bcryptHash(password: string, salt: Uint8Array, cost = 10): string {
  if (salt.length !== 16) throw new Error('bcrypt salt must be 16 bytes');
  if (!Number.isInteger(cost) || cost < 4 || cost > 31) throw new Error('bcrypt cost must be 4..31');
  const hash = bcryptRaw(passwordBytes(password), salt, cost);
  return `$2a$${String(cost).padStart(2, '0')}$${bcryptBase64Encode(salt, 16)}${bcryptBase64Encode(hash, 23)}`;
}

/** Hash with a fresh random salt (bcryptjs `hash(password, 10)`). */
export function hashPassword(password: string, ids: Pick<IdSource, 'randomBytes'>, cost = 10): string {
  return bcryptHash(password, ids.randomBytes(16), cost);
}

/** bcrypt.compare: false for malformed hashes (never throws). */
export function verifyPassword(password: string, stored: string): boolean {
  const m = /^\$2[aby]\$(\d\d)\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/.exec(stored ?? '');
  if (!m) return false;
  const cost = Number(m[1]);
  if (cost < 4 || cost > 31) return false;
  const computed = bcryptHash(password, bcryptBase64Decode(m[2]!, 16), cost).slice(7);
  const expected = stored.slice(7);
  return computed.length === expected.length && timingSafeEqual(Buffer.from(computed), Buffer.from(expected));
}
