import { describe, expect, it } from 'vitest';
import { openRig } from '../../test/support/coupons.ts';
import { cleanupsAfterEach } from '../../testing/index.ts';
import { inTx } from '../store/tx.ts';
import { prepareCouponSql } from './sql.ts';
import { EVERY_REFUSAL, RefusalThrottle, TokenBucket } from './throttle.ts';

describe('refusal throttling', () => {
  const cleanups = cleanupsAfterEach();

  it('lets a burst through at once, then refills at the rate, never above the burst', () => {
    const bucket = new TokenBucket({ perSecond: 10, burst: 3 });
    const t = 1_000_000;
    expect([1, 2, 3, 4].map(() => bucket.take(t))).toEqual([true, true, true, false]);
    expect(bucket.take(t + 99)).toBe(false);
    expect(bucket.take(t + 100)).toBe(true);
    // A long quiet spell refills to the burst, no more.
    expect(Array.from({ length: 5 }, () => bucket.take(t + 60_000))).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
  });

  it('lets every refusal through by default', () => {
    const bucket = new TokenBucket(EVERY_REFUSAL);
    expect(Array.from({ length: 10_000 }, () => bucket.take(0)).every(Boolean)).toBe(true);
  });

  it('counts refusals it holds back durably and reports them on the next one it sends', () => {
    const rig = openRig(cleanups);
    const sql = prepareCouponSql(rig.db);
    const throttle = new RefusalThrottle(sql, { perSecond: 1, burst: 1 });
    const admit = (now: number) => inTx(rig.db, () => throttle.admit(now));
    expect(admit(1000)).toEqual({ send: true, suppressed: 0 });
    expect(admit(1000)).toEqual({ send: false });
    expect(admit(1500)).toEqual({ send: false });
    expect(throttle.stats()).toEqual({ suppressed: 2, unreported: 2 });
    expect(admit(2500)).toEqual({ send: true, suppressed: 2 });
    expect(throttle.stats()).toEqual({ suppressed: 2, unreported: 0 });

    // A new process (a restart) reports what the last one held back.
    const before = new RefusalThrottle(sql, { perSecond: 1, burst: 1 });
    inTx(rig.db, () => before.admit(3000));
    expect(inTx(rig.db, () => before.admit(3000))).toEqual({ send: false });
    const restarted = new RefusalThrottle(prepareCouponSql(rig.db));
    expect(inTx(rig.db, () => restarted.admit(4000))).toEqual({ send: true, suppressed: 1 });
  });
});
