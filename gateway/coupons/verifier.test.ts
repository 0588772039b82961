import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { BEACON, BEACON_2, MONDAY_NOON_SHANGHAI } from '../../test/support/coupons.ts';
import { StaticBeaconVerifier } from './verifier.ts';

const HOUR = 3_600_000;

describe('the static beacon verifier', () => {
  it('refuses an id outside its validity interval, and ids it does not know', () => {
    const t = MONDAY_NOON_SHANGHAI;
    const v = new StaticBeaconVerifier([{ id: BEACON, from: t - HOUR, until: t + HOUR }]);
    expect(v.verify(BEACON, t)).toEqual({ ok: true });
    expect(v.verify(BEACON.toLowerCase(), t)).toEqual({ ok: true });
    expect(v.verify(BEACON, t - HOUR)).toEqual({ ok: true });
    expect(v.verify(BEACON, t - HOUR - 1)).toMatchObject({ ok: false, code: ErrorCode.CouponBeaconStale });
    expect(v.verify(BEACON, t + HOUR)).toMatchObject({ ok: false, code: ErrorCode.CouponBeaconStale });
    expect(v.verify(BEACON_2, t)).toMatchObject({ ok: false, code: ErrorCode.CouponBeaconUnknown });
    expect(v.verify('not-a-beacon', t)).toMatchObject({ ok: false, code: ErrorCode.CouponBeaconUnknown });
  });

  it('refuses to be built with something that is not a beacon id, naming it', () => {
    expect(() => new StaticBeaconVerifier([BEACON, 'ibeacon:nope'])).toThrow(/ibeacon:nope/);
  });
});
