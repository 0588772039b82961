import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import {
  canonicalBeaconKey,
  deriveMinor,
  RotatingBeaconVerifier,
  RotatingMinor,
  WECHAT_SHAKE_UUID,
} from './rotating-id.ts';

const SECRET = 'site-7-rotation-secret-0123456789';
const WINDOW = 600;
const T0 = Date.UTC(2025, 5, 1, 12, 0, 0);

function rot(key = '10001'): RotatingMinor {
  return new RotatingMinor({ secret: SECRET, beaconKey: key, windowSec: WINDOW });
}

describe('RotatingMinor', () => {
  it('derives the minor as the first non-zero 16-bit word of HMAC-SHA256(secret, key || u64be(window))', () => {
    const w = Math.floor(T0 / 1000 / WINDOW);
    const msg = Buffer.concat([Buffer.from('10001'), Buffer.alloc(8)]);
    msg.writeBigUInt64BE(BigInt(w), 5);
    const mac = createHmac('sha256', SECRET).update(msg).digest();
    const expected = mac.readUInt16BE(0) || mac.readUInt16BE(2);
    expect(rot().currentMinor(T0)).toBe(expected);
  });

  it('keeps one minor for a whole window and changes it at the boundary', () => {
    const r = rot();
    const start = r.windowAt(T0) * WINDOW * 1000;
    expect(r.currentMinor(start)).toBe(r.currentMinor(start + WINDOW * 1000 - 1));
    expect(r.nextBoundary(start + 5)).toBe(start + WINDOW * 1000);
    const changes = Array.from({ length: 20 }, (_, i) => r.minorForWindow(r.windowAt(T0) + i));
    expect(new Set(changes).size).toBeGreaterThan(15);
  });

  it('never advertises minor 0 and stays within 16 bits', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 12 }), fc.nat({ max: 2 ** 40 }), (key, window) => {
        const m = deriveMinor(SECRET, key, window);
        return m >= 1 && m <= 0xffff;
      }),
    );
  });

  it('gives different beacons different minors from one secret', () => {
    expect(rot('10001').currentMinor(T0)).not.toBe(rot('10002').currentMinor(T0));
  });

  it('accepts the current minor and the previous window, refuses older ones as stale and random ones as unknown', () => {
    const r = rot();
    const w = r.windowAt(T0);
    expect(r.verifyMinor(r.currentMinor(T0), T0)).toMatchObject({ ok: true, age: 0 });
    expect(r.verifyMinor(r.minorForWindow(w - 1), T0)).toMatchObject({ ok: true, age: 1 });
    expect(r.verifyMinor(r.minorForWindow(w - 2), T0)).toMatchObject({ ok: false, kind: 'stale', age: 2 });
    const known = new Set(Array.from({ length: 146 }, (_, k) => r.minorForWindow(w - k)));
    let random = 1;
    while (known.has(random)) random++;
    expect(r.verifyMinor(random, T0)).toMatchObject({ ok: false, kind: 'unknown' });
    expect(r.verifyMinor(0, T0)).toMatchObject({ ok: false, kind: 'unknown' });
  });

  it('accepts a minor from the next window only when told to allow for a fast beacon clock', () => {
    const r = rot();
    const next = r.minorForWindow(r.windowAt(T0) + 1);
    expect(r.verifyMinor(next, T0).ok).toBe(false);
    expect(r.verifyMinor(next, T0, { acceptNext: 1 })).toMatchObject({ ok: true, age: -1 });
  });

  it('refuses secrets shorter than 16 bytes', () => {
    expect(() => new RotatingMinor({ secret: 'short', beaconKey: 'x' })).toThrow(/16 bytes/);
  });
});

describe('RotatingBeaconVerifier', () => {
  const r = rot();
  const rotatingId = (minor: number) => `ibeacon:${WECHAT_SHAKE_UUID}:10001:${minor}`;
  const STATIC = `ibeacon:${WECHAT_SHAKE_UUID}:20001:7`;

  it('accepts a current rotating id and names the beacon by its stable id', () => {
    const v = new RotatingBeaconVerifier({
      rotating: [{ uuid: WECHAT_SHAKE_UUID, major: 10001, rotation: r }],
    });
    expect(v.verify(rotatingId(r.currentMinor(T0)), T0)).toEqual({
      ok: true,
      canonicalId: `ibeacon:${WECHAT_SHAKE_UUID}:10001:0`,
    });
    expect(v.verify(rotatingId(r.currentMinor(T0)).toLowerCase(), T0).ok).toBe(true);
  });

  it('refuses a replayed rotating id as stale (8004) and a guessed one as unknown (8003)', () => {
    const v = new RotatingBeaconVerifier({
      rotating: [{ uuid: WECHAT_SHAKE_UUID, major: 10001, rotation: r }],
    });
    const w = r.windowAt(T0);
    expect(v.verify(rotatingId(r.minorForWindow(w - 3)), T0)).toMatchObject({
      ok: false,
      code: ErrorCode.CouponBeaconStale,
    });
    const known = new Set(Array.from({ length: 146 }, (_, k) => r.minorForWindow(w - k)));
    let guess = 40000;
    while (known.has(guess)) guess++;
    expect(v.verify(rotatingId(guess), T0)).toMatchObject({ ok: false, code: ErrorCode.CouponBeaconUnknown });
  });

  it('verifies static beacons by membership when there is no scanner', () => {
    const v = new RotatingBeaconVerifier({ static: [STATIC] });
    expect(v.verify(STATIC, T0)).toEqual({ ok: true, canonicalId: STATIC });
    expect(v.verify(`ibeacon:${WECHAT_SHAKE_UUID}:20001:8`, T0)).toMatchObject({
      ok: false,
      code: ErrorCode.CouponBeaconUnknown,
    });
    expect(v.verify('not-a-beacon', T0)).toMatchObject({ ok: false, code: ErrorCode.CouponBeaconUnknown });
  });

  it('refuses a static beacon the scanner has not seen near the time of the shake, or suspects is cloned', () => {
    const seen = new Map<string, number>([[STATIC, T0 - 10_000]]);
    let cloned = false;
    const v = new RotatingBeaconVerifier({
      static: [STATIC, { id: 'eddystone:8b0ca750095477cb3e77:000000000001' }],
      presence: { lastSeenAt: (id) => seen.get(id), cloneSuspected: () => cloned },
      recentMs: 60_000,
    });
    expect(v.verify(STATIC, T0).ok).toBe(true);
    expect(v.verify(STATIC, T0 + 120_000)).toMatchObject({ ok: false, code: ErrorCode.CouponBeaconStale });
    expect(v.verify('eddystone:8b0ca750095477cb3e77:000000000001', T0)).toMatchObject({
      ok: false,
      code: ErrorCode.CouponBeaconStale,
    });
    cloned = true;
    expect(v.verify(STATIC, T0)).toMatchObject({ ok: false, code: ErrorCode.CouponBeaconStale });
  });

  it('looks Eddystone beacons up under the tracker key and reports them under the coupon key', () => {
    const v = new RotatingBeaconVerifier({
      static: ['eddystone-uid:8b0ca750095477cb3e77:000000000001'],
      presence: {
        lastSeenAt: (id) => (id === 'eddystone-uid:8b0ca750095477cb3e77:000000000001' ? T0 : undefined),
      },
    });
    expect(v.verify('eddystone:8B0CA750095477CB3E77:000000000001', T0)).toEqual({
      ok: true,
      canonicalId: 'eddystone:8b0ca750095477cb3e77:000000000001',
    });
  });

  it('canonicalises ids the way phones and configs spell them', () => {
    expect(canonicalBeaconKey(`iBeacon:${WECHAT_SHAKE_UUID.toLowerCase()}:10001:42`)).toMatchObject({
      key: `ibeacon:${WECHAT_SHAKE_UUID}:10001:42`,
    });
    expect(canonicalBeaconKey(`ibeacon:${WECHAT_SHAKE_UUID}:70000:1`)).toBeNull();
    expect(canonicalBeaconKey('ibeacon:nope:1:1')).toBeNull();
  });
});
