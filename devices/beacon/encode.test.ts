import { describe, expect, it } from 'vitest';
import { ErrorCode, isVendgateError } from '../../core/errors.ts';
import { encodeAdvertisement, encodeEddystoneUrl, encodePayload } from './encode.ts';
import { loadBeaconFixtures } from './fixtures.ts';

const fixtures = loadBeaconFixtures();

function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    return isVendgateError(e) ? e.code : -1;
  }
  return undefined;
}

describe('beacon encoders', () => {
  for (const f of fixtures) {
    it(`reproduce the fixture bytes of ${f.name}`, () => {
      expect(encodeAdvertisement(f.expected, { flags: f.ad[2]! }).toString('hex')).toBe(f.ad.toString('hex'));
      expect(encodePayload(f.expected).toString('hex')).toBe(f.payload.bytes.toString('hex'));
    });
  }

  it('accept a lower-case UUID with or without dashes', () => {
    const a = encodePayload({
      kind: 'ibeacon',
      uuid: 'fda50693a4e24fb1afcfc6eb07647825',
      major: 10001,
      minor: 12345,
      measuredPower: -59,
    });
    expect(a).toEqual(fixtures[0]!.payload.bytes);
  });

  it('omit the flags structure when asked', () => {
    const ad = encodeAdvertisement(fixtures[0]!.expected, { flags: null });
    expect(ad).toEqual(fixtures[0]!.ad.subarray(3));
  });

  it('encode URLs with the longest scheme prefix and expansion code', () => {
    expect(encodeEddystoneUrl('https://www.example.com/').toString('hex')).toBe(
      '01' + '6578616d706c65' + '00',
    );
    expect(encodeEddystoneUrl('http://a.info/b.gov').toString('hex')).toBe('02' + '61' + '04' + '62' + '0d');
  });

  it('refuse out-of-range fields with BeaconFieldInvalid naming the field', () => {
    const ib = {
      kind: 'ibeacon',
      uuid: 'FDA50693-A4E2-4FB1-AFCF-C6EB07647825',
      major: 1,
      minor: 1,
      measuredPower: -59,
    } as const;
    expect(codeOf(() => encodePayload({ ...ib, major: 65536 }))).toBe(ErrorCode.BeaconFieldInvalid);
    expect(codeOf(() => encodePayload({ ...ib, minor: 1.5 }))).toBe(ErrorCode.BeaconFieldInvalid);
    expect(codeOf(() => encodePayload({ ...ib, measuredPower: -129 }))).toBe(ErrorCode.BeaconFieldInvalid);
    expect(codeOf(() => encodePayload({ ...ib, uuid: 'not-a-uuid' }))).toBe(ErrorCode.BeaconFieldInvalid);
    try {
      encodePayload({ ...ib, major: -1 });
    } catch (e) {
      expect(isVendgateError(e) && e.context).toMatchObject({ field: 'major', value: -1 });
    }
  });

  it('refuse a URL without a known scheme, with unprintable characters, or too long for an advertisement', () => {
    expect(codeOf(() => encodeEddystoneUrl('ftp://example.com'))).toBe(ErrorCode.BeaconFieldInvalid);
    expect(codeOf(() => encodeEddystoneUrl('https://exa mple.com'))).toBe(ErrorCode.BeaconFieldInvalid);
    expect(codeOf(() => encodeEddystoneUrl('https://例え.jp'))).toBe(ErrorCode.BeaconFieldInvalid);
    expect(codeOf(() => encodeEddystoneUrl('https://abcdefghijklmnopq'))).toBe(undefined);
    expect(codeOf(() => encodeEddystoneUrl('https://abcdefghijklmnopqr'))).toBe(ErrorCode.BeaconFieldInvalid);
  });

  it('refuse a TLM temperature of exactly -128 °C, which the wire reserves for "unknown"', () => {
    const tlm = { kind: 'eddystone-tlm', version: 0, batteryMv: 0, advCount: 0, uptimeS: 0 } as const;
    expect(codeOf(() => encodePayload({ ...tlm, temperatureC: -128 }))).toBe(ErrorCode.BeaconFieldInvalid);
    expect(codeOf(() => encodePayload({ ...tlm, temperatureC: 20.1 }))).toBe(ErrorCode.BeaconFieldInvalid);
    expect(
      encodePayload({ ...tlm, temperatureC: null })
        .subarray(4, 6)
        .toString('hex'),
    ).toBe('8000');
  });
});
