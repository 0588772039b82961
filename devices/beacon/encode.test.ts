import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { expectVendgateError } from '../../testing/errors.ts';
import { encodeAdvertisement, encodeEddystoneUrl, encodePayload } from './encode.ts';
import { loadBeaconFixtures } from './fixtures.ts';

const fixtures = loadBeaconFixtures();

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

  it('refuse out-of-range fields with BeaconFieldInvalid naming the field', async () => {
    const ib = {
      kind: 'ibeacon',
      uuid: 'FDA50693-A4E2-4FB1-AFCF-C6EB07647825',
      major: 1,
      minor: 1,
      measuredPower: -59,
    } as const;
    await expectVendgateError(() => encodePayload({ ...ib, major: 65536 }), ErrorCode.BeaconFieldInvalid);
    await expectVendgateError(() => encodePayload({ ...ib, minor: 1.5 }), ErrorCode.BeaconFieldInvalid);
    await expectVendgateError(
      () => encodePayload({ ...ib, measuredPower: -129 }),
      ErrorCode.BeaconFieldInvalid,
    );
    await expectVendgateError(
      () => encodePayload({ ...ib, uuid: 'not-a-uuid' }),
      ErrorCode.BeaconFieldInvalid,
    );
    const err = await expectVendgateError(
      () => encodePayload({ ...ib, major: -1 }),
      ErrorCode.BeaconFieldInvalid,
    );
    expect(err.context).toMatchObject({ field: 'major', value: -1 });
  });

  it('refuse a URL without a known scheme, with unprintable characters, or too long for an advertisement', async () => {
    await expectVendgateError(() => encodeEddystoneUrl('ftp://example.com'), ErrorCode.BeaconFieldInvalid);
    await expectVendgateError(() => encodeEddystoneUrl('https://exa mple.com'), ErrorCode.BeaconFieldInvalid);
    await expectVendgateError(() => encodeEddystoneUrl('https://例え.jp'), ErrorCode.BeaconFieldInvalid);
    expect(() => encodeEddystoneUrl('https://abcdefghijklmnopq')).not.toThrow();
    await expectVendgateError(
      () => encodeEddystoneUrl('https://abcdefghijklmnopqr'),
      ErrorCode.BeaconFieldInvalid,
    );
  });

  it('refuse a TLM temperature of exactly -128 °C, which the wire reserves for "unknown"', async () => {
    const tlm = { kind: 'eddystone-tlm', version: 0, batteryMv: 0, advCount: 0, uptimeS: 0 } as const;
    await expectVendgateError(
      () => encodePayload({ ...tlm, temperatureC: -128 }),
      ErrorCode.BeaconFieldInvalid,
    );
    await expectVendgateError(
      () => encodePayload({ ...tlm, temperatureC: 20.1 }),
      ErrorCode.BeaconFieldInvalid,
    );
    expect(
      encodePayload({ ...tlm, temperatureC: null })
        .subarray(4, 6)
        .toString('hex'),
    ).toBe('8000');
  });
});
