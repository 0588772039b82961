import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc16, crc16Text, crcHex } from './crc16.ts';

/** The CRC-16/ARC definition bit by bit, to check the table-driven one against. */
function bitwise(bytes: Uint8Array): number {
  let c = 0;
  for (const b of bytes) {
    c ^= b;
    for (let i = 0; i < 8; i++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
  }
  return c;
}

describe('DEX CRC-16', () => {
  it('is CRC-16/ARC: the catalogue check value over "123456789" is BB3D', () => {
    expect(crcHex(crc16Text('123456789'))).toBe('BB3D');
  });

  it('matches the bitwise definition for any bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => crc16(b) === bitwise(b)));
  });

  it('continues across chunks as if the bytes came at once', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (a, b) => {
        expect(crc16(b, crc16(a))).toBe(crc16(Buffer.concat([a, b])));
      }),
    );
  });

  it('is shown as four upper-case hex digits, as G85 writes it', () => {
    expect(crcHex(0x0a)).toBe('000A');
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), (n) => /^[0-9A-F]{4}$/.test(crcHex(n))));
  });
});
