import { describe, expect, it } from 'vitest';
import { BEACON, CNY, campaignSpec, eventsOf, openRig, rowCount } from '../../test/support/coupons.ts';
import { cleanupsAfterEach } from '../../testing/index.ts';

const DAY = 86_400_000;

describe('coupon expiry and retention', () => {
  const cleanups = cleanupsAfterEach();

  it('expires unredeemed coupons once, with an event, after which they are refused', async () => {
    const rig = openRig(cleanups);
    expect(rig.engine.upsertCampaign(campaignSpec({ validityMs: 3_600_000 })).ok).toBe(true);
    const r = await rig.engine.claim({ userId: 'alice', beaconId: BEACON, seenAt: rig.clock.now });
    if (!r.ok) throw new Error(r.reason);
    rig.clock.now += 3_600_000 - 1;
    expect(rig.engine.expire()).toBe(0);
    rig.clock.now += 1;
    expect(rig.engine.expire()).toBe(1);
    expect(rig.engine.expire()).toBe(0);
    expect(eventsOf(rig.outbox, 'coupon.expired').map((e) => e.data)).toEqual([
      { couponId: r.coupon.couponId, campaignId: 'spring', expiresAt: r.coupon.expiresAt },
    ]);
    expect(rig.engine.coupon(r.coupon.code)!.state).toBe('expired');
    expect(rig.engine.quote(r.coupon.code, CNY(350), 'm1').ok).toBe(false);
  });

  it('expires a backlog larger than one batch completely', async () => {
    const rig = openRig(cleanups);
    rig.engine.upsertCampaign(
      campaignSpec({ validityMs: 60_000, perUserPerDay: 1, budget: { count: 2000, money: CNY(1_000_000) } }),
    );
    const results = await Promise.all(
      Array.from({ length: 1203 }, (_, i) =>
        rig.engine.claim({ userId: `u${i}`, beaconId: BEACON, seenAt: rig.clock.now }),
      ),
    );
    expect(results.every((r) => r.ok)).toBe(true);
    rig.clock.now += 60_000;
    expect(rig.engine.expire()).toBe(1203);
    expect(eventsOf(rig.outbox, 'coupon.expired')).toHaveLength(1203);
  });

  it('purges claims older than the retention limit and day counters of past days', async () => {
    const rig = openRig(cleanups, { engine: { retentionMs: 30 * DAY } });
    const claim = (userId: string) => rig.engine.claim({ userId, beaconId: BEACON, seenAt: rig.clock.now });
    rig.engine.upsertCampaign(campaignSpec({ perUserPerDay: 1 }));
    await claim('a');
    await claim('a');
    expect(rowCount(rig.db, 'coupon_claims')).toBe(2);
    expect(rowCount(rig.db, 'coupon_user_days')).toBe(1);
    rig.clock.now += 3 * DAY;
    await claim('b');
    expect(rig.engine.purge()).toEqual({ claims: 0, userDays: 1, coupons: 0 });
    expect(rowCount(rig.db, 'coupon_user_days')).toBe(1);
    rig.clock.now += 28 * DAY;
    expect(rig.engine.expire()).toBe(2);
    rig.clock.now += 30 * DAY;
    expect(rig.engine.purge()).toEqual({ claims: 3, userDays: 1, coupons: 2 });
    expect(rowCount(rig.db, 'coupon_claims')).toBe(0);
    expect(rig.db.prepare("SELECT COUNT(*) AS n FROM coupons WHERE user_ref <> 'purged'").get()).toEqual({
      n: 0,
    });
  });
});
