import { createHmac, createSecretKey, type KeyObject, randomBytes } from 'node:crypto';
import { CODE_ALPHABET } from '../../contract/coupons.ts';

/** Length of a coupon code: 10 base32 characters, 50 random bits. */
export const CODE_LENGTH = 10;

/**
 * Random bytes drawn from a pool refilled 4 KiB at a time, so issuing a
 * coupon does not cost a getrandom() call each.
 */
class RandomPool {
  #buf = Buffer.alloc(0);
  #pos = 0;
  take(n: number): Buffer {
    if (this.#pos + n > this.#buf.length) {
      this.#buf = randomBytes(4096);
      this.#pos = 0;
    }
    const out = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }
}
const pool = new RandomPool();

/**
 * A new coupon code: 10 characters of Crockford base32 (no I, L, O, U),
 * each from 5 uniformly random bits of crypto.randomBytes (256 is a
 * multiple of 32, so `byte & 31` is unbiased). 2^50 codes: guessing one of
 * ten thousand live coupons takes ~10^11 tries.
 */
export function newCouponCode(): string {
  const b = pool.take(CODE_LENGTH);
  let s = '';
  for (let i = 0; i < CODE_LENGTH; i++) s += CODE_ALPHABET[b[i]! & 31];
  return s;
}

/** A coupon id: not secret (orders and events carry it), just unique. */
export function newCouponId(): string {
  return `cpn_${pool.take(10).toString('hex')}`;
}

/**
 * A code as a user typed it, in canonical form, or null when it cannot be
 * one: case-insensitive, dashes and spaces ignored, and the look-alikes
 * Crockford base32 maps (O -> 0, I and L -> 1).
 */
export function normalizeCouponCode(input: string): string | null {
  if (typeof input !== 'string' || input.length > 32) return null;
  const s = input.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  if (s.length !== CODE_LENGTH) return null;
  for (const ch of s) if (!CODE_ALPHABET.includes(ch)) return null;
  return s;
}

/**
 * Pseudonymises user ids: HMAC-SHA256 keyed with the gateway secret,
 * truncated to 128 bits (32 hex digits). The key is held in memory only;
 * without it the stored references cannot be linked back to ids, even by
 * trying every id the platform knows.
 */
export class Pseudonymizer {
  readonly #key: KeyObject;

  constructor(key: Buffer | string) {
    const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
    if (bytes.length < 16) throw new TypeError('the user-id HMAC key must be at least 16 bytes');
    this.#key = createSecretKey(Buffer.from(bytes));
  }

  /**
   * Recent refs, memoised: a claim burst repeats the same users. Bounded and
   * in memory only (cleared when full); nothing here reaches the disk.
   */
  readonly #recent = new Map<string, string>();

  ref(userId: string): string {
    const hit = this.#recent.get(userId);
    if (hit !== undefined) return hit;
    const ref = createHmac('sha256', this.#key).update(userId, 'utf8').digest('hex').slice(0, 32);
    if (this.#recent.size >= 4096) this.#recent.clear();
    this.#recent.set(userId, ref);
    return ref;
  }
}
