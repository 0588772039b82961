import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { encodeAdvertisement, encodePayload } from './encode.ts';
import { altBeaconIds, type BeaconFrame, type BeaconParseResult, MAX_ADVERTISING_DATA } from './frames.ts';
import {
  parseAdvertisement,
  parseEddystoneServiceData,
  parseManufacturerData,
  parseNobleAdvertisement,
} from './parse.ts';

const FAILURE_CODES = [
  ErrorCode.BeaconNotABeacon,
  ErrorCode.BeaconTruncated,
  ErrorCode.BeaconMalformed,
  ErrorCode.BeaconUnsupported,
];

const hexOf = (n: number) =>
  fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b).toString('hex'));
const i8 = fc.integer({ min: -128, max: 127 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

const uuid = hexOf(16).map((h) =>
  `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`.toUpperCase(),
);

/** Printable US-ASCII URL text (0x21..0x7E), the only characters the URL frame can carry. */
const urlChar = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));
const urlPiece = fc.oneof(urlChar, fc.constantFrom('.com/', '.org', '.info/', '.gov', '.net/', '.biz'));
const url = fc
  .tuple(
    fc.constantFrom('http://www.', 'https://www.', 'http://', 'https://'),
    fc.array(urlPiece, { maxLength: 17 }),
  )
  .map(([scheme, parts]) => scheme + parts.join(''))
  .filter((u) => {
    try {
      encodePayload({ kind: 'eddystone-url', txPower: 0, url: u });
      return true;
    } catch {
      return false; // longer than 17 encoded bytes
    }
  });

/** Frames as plain objects (fast-check records have a null prototype, which toStrictEqual notices). */
const frame: fc.Arbitrary<BeaconFrame> = fc
  .oneof(
    fc.record({
      ok: fc.constant(true as const),
      kind: fc.constant('ibeacon' as const),
      uuid,
      major: u16,
      minor: u16,
      measuredPower: i8,
    }),
    fc.record({
      ok: fc.constant(true as const),
      kind: fc.constant('eddystone-uid' as const),
      txPower: i8,
      namespace: hexOf(10),
      instance: hexOf(6),
    }),
    fc.record({
      ok: fc.constant(true as const),
      kind: fc.constant('eddystone-url' as const),
      txPower: i8,
      url,
    }),
    fc.record({
      ok: fc.constant(true as const),
      kind: fc.constant('eddystone-tlm' as const),
      version: fc.constant(0 as const),
      batteryMv: u16,
      temperatureC: fc.oneof(
        fc.constant(null),
        fc.integer({ min: -32767, max: 32767 }).map((t) => t / 256),
      ),
      advCount: u32,
      uptimeS: u32.map((t) => t / 10),
    }),
    fc.record({
      ok: fc.constant(true as const),
      kind: fc.constant('eddystone-eid' as const),
      txPower: i8,
      eid: hexOf(8),
    }),
    fc
      .record({
        ok: fc.constant(true as const),
        kind: fc.constant('altbeacon' as const),
        companyId: u16,
        beaconId: hexOf(20),
        referenceRssi: i8,
        mfgReserved: fc.integer({ min: 0, max: 255 }),
      })
      .map((f) => ({ ...f, ...altBeaconIds(f.beaconId) })),
  )
  .map((f): BeaconFrame => ({ ...f }));

function isEddystone(f: BeaconFrame): boolean {
  return f.kind.startsWith('eddystone-');
}

function checkResultShape(r: BeaconParseResult, length: number): void {
  if (r.ok) return;
  expect(FAILURE_CODES).toContain(r.code);
  expect(typeof r.reason).toBe('string');
  expect(r.reason.length).toBeGreaterThan(0);
  if (r.offset !== undefined) {
    expect(r.offset).toBeGreaterThanOrEqual(0);
    expect(r.offset).toBeLessThanOrEqual(length);
  }
}

describe('beacon parser properties', () => {
  it('round trips every encodable frame through raw advertising data', () => {
    fc.assert(
      fc.property(frame, (f) => {
        expect(parseAdvertisement(encodeAdvertisement(f))).toStrictEqual(f);
      }),
      { numRuns: 2000 },
    );
  });

  it('round trips every encodable frame through the payload noble hands over', () => {
    fc.assert(
      fc.property(frame, (f) => {
        const payload = encodePayload(f);
        const direct = isEddystone(f) ? parseEddystoneServiceData(payload) : parseManufacturerData(payload);
        expect(direct).toStrictEqual(f);
        const adv = isEddystone(f)
          ? { serviceData: [{ uuid: 'feaa', data: payload }], serviceUuids: ['feaa'] }
          : { manufacturerData: payload, serviceData: [] };
        expect(parseNobleAdvertisement(adv)).toStrictEqual(f);
      }),
      { numRuns: 1000 },
    );
  });

  it('re-encodes a decoded frame to the same payload bytes', () => {
    fc.assert(
      fc.property(frame, (f) => {
        const payload = encodePayload(f);
        const decoded = isEddystone(f) ? parseEddystoneServiceData(payload) : parseManufacturerData(payload);
        expect(decoded.ok).toBe(true);
        if (decoded.ok) expect(encodePayload(decoded)).toEqual(payload);
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on arbitrary bytes and always says why they are not a beacon', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const b = Buffer.from(bytes);
        checkResultShape(parseAdvertisement(b), b.length);
        checkResultShape(parseManufacturerData(b), b.length);
        checkResultShape(parseEddystoneServiceData(b), b.length);
        checkResultShape(
          parseNobleAdvertisement({ manufacturerData: b, serviceData: [{ uuid: 'feaa', data: b }] }),
          b.length,
        );
      }),
      { numRuns: 5000 },
    );
  });

  it('never throws on arbitrary AD structures with beacon-shaped headers', () => {
    const structure = fc.oneof(
      fc.uint8Array({ maxLength: 40 }).map((d) => Buffer.concat([Buffer.from([d.length + 1, 0xff]), d])),
      fc
        .uint8Array({ maxLength: 30 })
        .map((d) => Buffer.concat([Buffer.from([d.length + 5, 0xff, 0x4c, 0x00, 0x02, 0x15]), d])),
      fc
        .uint8Array({ maxLength: 30 })
        .map((d) => Buffer.concat([Buffer.from([d.length + 3, 0x16, 0xaa, 0xfe]), d])),
      fc.uint8Array({ maxLength: 40 }),
    );
    fc.assert(
      fc.property(fc.array(structure, { maxLength: 8 }), (parts) => {
        const b = Buffer.concat(parts);
        checkResultShape(parseAdvertisement(b), b.length);
      }),
      { numRuns: 5000 },
    );
  });

  it('finishes in bounded time even on the largest input it accepts', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: MAX_ADVERTISING_DATA - 50, maxLength: MAX_ADVERTISING_DATA + 50 }),
        (bytes) => {
          const b = Buffer.from(bytes);
          const t0 = process.hrtime.bigint();
          const r = parseAdvertisement(b);
          const us = Number(process.hrtime.bigint() - t0) / 1000;
          checkResultShape(r, b.length);
          if (b.length > MAX_ADVERTISING_DATA)
            expect(r).toMatchObject({ ok: false, code: ErrorCode.BeaconMalformed });
          // A few microseconds in practice; a generous ceiling for a loaded CI box.
          expect(us).toBeLessThan(50_000);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('says "truncated" with the structure offset for every cut inside the beacon structure', () => {
    fc.assert(
      fc.property(frame, fc.nat(), (f, n) => {
        const ad = encodeAdvertisement(f);
        // The beacon structure is the last one; it starts after flags (3) and, for Eddystone, the UUID list (4).
        const start = isEddystone(f) ? 7 : 3;
        const cut = start + 1 + (n % (ad.length - start - 1));
        const r = parseAdvertisement(ad.subarray(0, cut));
        expect(r).toMatchObject({ ok: false, code: ErrorCode.BeaconTruncated, offset: start });
        expect(r.ok || r.reason).toMatch(
          /^AD structure #\d+ at offset \d+ declares length \d+ but only \d+ bytes follow$/,
        );
      }),
      { numRuns: 1000 },
    );
  });

  it('says "truncated" and names the needed length for every too-short fixed-size payload', () => {
    const fixedSize = frame.filter((f) => f.kind !== 'eddystone-url');
    fc.assert(
      fc.property(fixedSize, fc.nat(), (f, n) => {
        const payload = encodePayload(f);
        const min = {
          ibeacon: 25,
          altbeacon: 26,
          'eddystone-uid': 18,
          'eddystone-tlm': 14,
          'eddystone-eid': 10,
        }[f.kind as 'ibeacon'];
        // Keep the bytes that identify the format (company id + type, or the Eddystone frame type and TLM version).
        const keep = isEddystone(f) ? (f.kind === 'eddystone-tlm' ? 2 : 1) : 4;
        const cut = keep + (n % (min - keep));
        const short = payload.subarray(0, cut);
        const r = isEddystone(f) ? parseEddystoneServiceData(short) : parseManufacturerData(short);
        expect(r).toMatchObject({ ok: false, code: ErrorCode.BeaconTruncated });
        expect(r.ok || r.reason).toContain(`is ${cut} bytes; needs ${min}`);
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses every Eddystone frame type byte with a nonzero low nibble as reserved, whatever follows', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xff }).filter((t) => (t & 0x0f) !== 0),
        fc.uint8Array({ maxLength: 40 }),
        (type, rest) => {
          const r = parseEddystoneServiceData(Uint8Array.of(type, ...rest));
          expect(r).toMatchObject({ ok: false, code: ErrorCode.BeaconUnsupported, offset: 0 });
          expect(r.ok || r.reason).toMatch(/reserved/);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('splits every AltBeacon id into id1 (UUID form), id2 and id3 that rebuild the 20-byte id', () => {
    fc.assert(
      fc.property(
        frame.filter((f) => f.kind === 'altbeacon'),
        (f) => {
          const r = parseManufacturerData(encodePayload(f));
          if (!r.ok || r.kind !== 'altbeacon') throw new Error('expected an AltBeacon');
          expect(r.id1).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
          const rebuilt =
            r.id1.replace(/-/g, '').toLowerCase() +
            r.id2.toString(16).padStart(4, '0') +
            r.id3.toString(16).padStart(4, '0');
          expect(rebuilt).toBe(r.beaconId);
        },
      ),
      { numRuns: 500 },
    );
  });
});
