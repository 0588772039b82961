import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, isVendgateError } from '../../core/errors.ts';
import { expectVendgateError } from '../../testing/errors.ts';
import { DLE, ETB, STX } from './control.ts';
import { encodeBlock, encodeUnit, LinkDecoder, type LinkUnit } from './frames.ts';

const unitArb: fc.Arbitrary<LinkUnit> = fc.oneof(
  fc.constant({ type: 'enq' } as const),
  fc.constant({ type: 'eot' } as const),
  fc.constant({ type: 'nak' } as const),
  fc.constant({ type: 'wack' } as const),
  fc.constantFrom(0 as const, 1 as const).map((n) => ({ type: 'ack', n }) as const),
  fc
    .record({
      start: fc.constantFrom('SOH' as const, 'STX' as const),
      end: fc.constantFrom('ETB' as const, 'ETX' as const),
      data: fc.uint8Array({ maxLength: 300 }).map((d) => Buffer.from(d)),
      crcOk: fc.boolean(),
    })
    .map((b) => ({ type: 'block', ...b }) as const),
);

/** Splits bytes at random points, as a serial port delivers them. */
const chunked = (bytes: Buffer, cuts: number[]): Buffer[] => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    out.push(bytes.subarray(at, p));
    at = p;
  }
  out.push(bytes.subarray(at));
  return out;
};

describe('DEX/UCS link framing', () => {
  it('decodes any sequence of units back to the same units, however the bytes are chunked', () => {
    fc.assert(
      fc.property(
        fc.array(unitArb, { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (units, cuts) => {
          const d = new LinkDecoder();
          const got = chunked(Buffer.concat(units.map(encodeUnit)), cuts).flatMap((c) => d.push(c));
          expect(got).toEqual(units);
        },
      ),
    );
  });

  it('sends a DLE inside the data doubled and counts it once', () => {
    const data = Buffer.from([0x41, DLE, 0x42]);
    const wire = encodeBlock('STX', data, 'ETB');
    expect([...wire.subarray(0, 6)]).toEqual([DLE, STX, 0x41, DLE, DLE, 0x42]);
    const [u] = new LinkDecoder().push(wire);
    expect(u).toEqual({ type: 'block', start: 'STX', end: 'ETB', data, crcOk: true });
  });

  it('flags a block whose CRC was damaged on the way', () => {
    const wire = encodeBlock('STX', Buffer.from('ID1*X\r\n'), 'ETX');
    wire[3] = 0x5a; // one data byte changed in flight
    const [u] = new LinkDecoder().push(wire);
    expect(u).toMatchObject({ type: 'block', crcOk: false });
  });

  it('refuses a block longer than its bound with DexTooLarge instead of buffering it', async () => {
    const d = new LinkDecoder({ maxBlockBytes: 16 });
    const wire = encodeBlock('STX', Buffer.alloc(17, 0x41), 'ETB');
    await expectVendgateError(() => d.push(wire), ErrorCode.DexTooLarge);
    // After the refusal it decodes the next unit normally.
    expect(d.push(encodeUnit({ type: 'eot' }))).toEqual([{ type: 'eot' }]);
  });

  it('reports stray bytes outside blocks as junk and never throws anything but a VendgateError on garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        const d = new LinkDecoder({ maxBlockBytes: 64 });
        try {
          for (const u of d.push(bytes)) expect(u.type).toMatch(/^(enq|eot|nak|ack|wack|block|junk)$/);
        } catch (err) {
          expect(isVendgateError(err, ErrorCode.DexTooLarge)).toBe(true);
        }
      }),
    );
  });

  it('knows it is inside a block until the CRC has come', () => {
    const d = new LinkDecoder();
    const wire = encodeBlock('STX', Buffer.from('VA1*1*2'), 'ETB');
    d.push(wire.subarray(0, wire.length - 1));
    expect(d.midUnit).toBe(true);
    expect(d.push(wire.subarray(wire.length - 1))).toHaveLength(1);
    expect(d.midUnit).toBe(false);
    expect(wire.includes(ETB)).toBe(true);
  });
});
