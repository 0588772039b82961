/**
 * Hex formatting for the parser hot path. Each formatter builds its string
 * with one `String.fromCharCode` call from two precomputed 256-entry tables
 * (the char codes of each byte's high and low digit), which on Node 20 is
 * several times faster than `Buffer#toString('hex')` on a slice or string
 * concatenation, and yields a flat string that hashes quickly as a Map key.
 *
 * The callers guarantee the bytes exist (they check lengths first), so the
 * non-null assertions on indexed reads are safe.
 */

const DIGITS_LOWER = '0123456789abcdef';
const DIGITS_UPPER = '0123456789ABCDEF';

function table(digits: string, high: boolean): Uint16Array {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) t[i] = digits.charCodeAt(high ? i >> 4 : i & 15);
  return t;
}

const HI = table(DIGITS_LOWER, true);
const LO = table(DIGITS_LOWER, false);
const HU = table(DIGITS_UPPER, true);
const LU = table(DIGITS_UPPER, false);
const DASH = 0x2d;

/** 16 bytes at `o` as an upper-case dashed UUID (8-4-4-4-12). */
export function uuidAt(b: Uint8Array, o: number): string {
  const b0 = b[o]!;
  const b1 = b[o + 1]!;
  const b2 = b[o + 2]!;
  const b3 = b[o + 3]!;
  const b4 = b[o + 4]!;
  const b5 = b[o + 5]!;
  const b6 = b[o + 6]!;
  const b7 = b[o + 7]!;
  const b8 = b[o + 8]!;
  const b9 = b[o + 9]!;
  const b10 = b[o + 10]!;
  const b11 = b[o + 11]!;
  const b12 = b[o + 12]!;
  const b13 = b[o + 13]!;
  const b14 = b[o + 14]!;
  const b15 = b[o + 15]!;
  return String.fromCharCode(
    HU[b0]!,
    LU[b0]!,
    HU[b1]!,
    LU[b1]!,
    HU[b2]!,
    LU[b2]!,
    HU[b3]!,
    LU[b3]!,
    DASH,
    HU[b4]!,
    LU[b4]!,
    HU[b5]!,
    LU[b5]!,
    DASH,
    HU[b6]!,
    LU[b6]!,
    HU[b7]!,
    LU[b7]!,
    DASH,
    HU[b8]!,
    LU[b8]!,
    HU[b9]!,
    LU[b9]!,
    DASH,
    HU[b10]!,
    LU[b10]!,
    HU[b11]!,
    LU[b11]!,
    HU[b12]!,
    LU[b12]!,
    HU[b13]!,
    LU[b13]!,
    HU[b14]!,
    LU[b14]!,
    HU[b15]!,
    LU[b15]!,
  );
}

/** 6 bytes at `o` as 12 lower-case hex digits. */
export function hex6At(b: Uint8Array, o: number): string {
  const b0 = b[o]!;
  const b1 = b[o + 1]!;
  const b2 = b[o + 2]!;
  const b3 = b[o + 3]!;
  const b4 = b[o + 4]!;
  const b5 = b[o + 5]!;
  return String.fromCharCode(
    HI[b0]!,
    LO[b0]!,
    HI[b1]!,
    LO[b1]!,
    HI[b2]!,
    LO[b2]!,
    HI[b3]!,
    LO[b3]!,
    HI[b4]!,
    LO[b4]!,
    HI[b5]!,
    LO[b5]!,
  );
}

/** 8 bytes at `o` as 16 lower-case hex digits. */
export function hex8At(b: Uint8Array, o: number): string {
  const b0 = b[o]!;
  const b1 = b[o + 1]!;
  const b2 = b[o + 2]!;
  const b3 = b[o + 3]!;
  const b4 = b[o + 4]!;
  const b5 = b[o + 5]!;
  const b6 = b[o + 6]!;
  const b7 = b[o + 7]!;
  return String.fromCharCode(
    HI[b0]!,
    LO[b0]!,
    HI[b1]!,
    LO[b1]!,
    HI[b2]!,
    LO[b2]!,
    HI[b3]!,
    LO[b3]!,
    HI[b4]!,
    LO[b4]!,
    HI[b5]!,
    LO[b5]!,
    HI[b6]!,
    LO[b6]!,
    HI[b7]!,
    LO[b7]!,
  );
}

/** 10 bytes at `o` as 20 lower-case hex digits. */
export function hex10At(b: Uint8Array, o: number): string {
  const b0 = b[o]!;
  const b1 = b[o + 1]!;
  const b2 = b[o + 2]!;
  const b3 = b[o + 3]!;
  const b4 = b[o + 4]!;
  const b5 = b[o + 5]!;
  const b6 = b[o + 6]!;
  const b7 = b[o + 7]!;
  const b8 = b[o + 8]!;
  const b9 = b[o + 9]!;
  return String.fromCharCode(
    HI[b0]!,
    LO[b0]!,
    HI[b1]!,
    LO[b1]!,
    HI[b2]!,
    LO[b2]!,
    HI[b3]!,
    LO[b3]!,
    HI[b4]!,
    LO[b4]!,
    HI[b5]!,
    LO[b5]!,
    HI[b6]!,
    LO[b6]!,
    HI[b7]!,
    LO[b7]!,
    HI[b8]!,
    LO[b8]!,
    HI[b9]!,
    LO[b9]!,
  );
}

/** 20 bytes at `o` as 40 lower-case hex digits. */
export function hex20At(b: Uint8Array, o: number): string {
  const b0 = b[o]!;
  const b1 = b[o + 1]!;
  const b2 = b[o + 2]!;
  const b3 = b[o + 3]!;
  const b4 = b[o + 4]!;
  const b5 = b[o + 5]!;
  const b6 = b[o + 6]!;
  const b7 = b[o + 7]!;
  const b8 = b[o + 8]!;
  const b9 = b[o + 9]!;
  const b10 = b[o + 10]!;
  const b11 = b[o + 11]!;
  const b12 = b[o + 12]!;
  const b13 = b[o + 13]!;
  const b14 = b[o + 14]!;
  const b15 = b[o + 15]!;
  const b16 = b[o + 16]!;
  const b17 = b[o + 17]!;
  const b18 = b[o + 18]!;
  const b19 = b[o + 19]!;
  return String.fromCharCode(
    HI[b0]!,
    LO[b0]!,
    HI[b1]!,
    LO[b1]!,
    HI[b2]!,
    LO[b2]!,
    HI[b3]!,
    LO[b3]!,
    HI[b4]!,
    LO[b4]!,
    HI[b5]!,
    LO[b5]!,
    HI[b6]!,
    LO[b6]!,
    HI[b7]!,
    LO[b7]!,
    HI[b8]!,
    LO[b8]!,
    HI[b9]!,
    LO[b9]!,
    HI[b10]!,
    LO[b10]!,
    HI[b11]!,
    LO[b11]!,
    HI[b12]!,
    LO[b12]!,
    HI[b13]!,
    LO[b13]!,
    HI[b14]!,
    LO[b14]!,
    HI[b15]!,
    LO[b15]!,
    HI[b16]!,
    LO[b16]!,
    HI[b17]!,
    LO[b17]!,
    HI[b18]!,
    LO[b18]!,
    HI[b19]!,
    LO[b19]!,
  );
}

/** Any byte range as lower-case hex (not for the hot path). */
export function bytesToHex(b: Uint8Array, start = 0, end = b.length): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(HI[b[i]!]!, LO[b[i]!]!);
  return s;
}

function nibble(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

export type HexParse = { ok: true; bytes: Buffer } | { ok: false; reason: string };

/**
 * Reads hex as a person pastes it: case-insensitive, an optional `0x`
 * prefix, and spaces, colons, dashes or commas between digits (as in
 * `02 01 06`, `02:01:06` or a dashed UUID). Says where it went wrong.
 */
export function parseHex(text: string): HexParse {
  let s = text.trim();
  if (s.startsWith('0x') || s.startsWith('0X')) s = s.slice(2);
  const out: number[] = [];
  let high = -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x20 || c === 0x3a || c === 0x2d || c === 0x2c || c === 0x09 || c === 0x0a || c === 0x0d) {
      if (high !== -1) return { ok: false, reason: `odd hex digit before separator at character ${i}` };
      continue;
    }
    const v = nibble(c);
    if (v < 0) return { ok: false, reason: `"${s[i]}" at character ${i} is not a hex digit` };
    if (high === -1) high = v;
    else {
      out.push((high << 4) | v);
      high = -1;
    }
  }
  if (high !== -1) return { ok: false, reason: 'odd number of hex digits (a byte is two digits)' };
  if (out.length === 0) return { ok: false, reason: 'no hex digits given' };
  return { ok: true, bytes: Buffer.from(out) };
}
