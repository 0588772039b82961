import { describe, expect, it } from 'vitest';
import { CNY, campaignSpec, MONDAY_NOON_SHANGHAI, openRig } from '../../test/support/coupons.ts';
import { cleanupsAfterEach } from '../../testing/index.ts';
import {
  type CampaignRow,
  type CouponRow,
  prepareCouponSql,
  toCampaignStatus,
  toCouponRecord,
} from './sql.ts';

const NOW = MONDAY_NOON_SHANGHAI;

describe('coupon SQL', () => {
  const cleanups = cleanupsAfterEach();

  const store = () => {
    const rig = openRig(cleanups);
    const sql = prepareCouponSql(rig.db);
    const spec = campaignSpec();
    sql.insertCampaign.run(
      'spring',
      'platform',
      JSON.stringify(spec),
      spec.startsAt,
      spec.endsAt,
      3,
      250,
      'CNY',
      NOW,
    );
    return { rig, sql };
  };

  it('bumps a user’s day count only while it is under the cap', () => {
    const { sql } = store();
    const bump = () => sql.bumpUser.run('spring', 'user-ref', '2026-03-02', 2).changes;
    expect([bump(), bump(), bump()]).toEqual([1, 1, 0]);
    expect(sql.bumpUser.run('spring', 'user-ref', '2026-03-03', 2).changes).toBe(1);
    sql.unbumpUser.run('spring', 'user-ref', '2026-03-02');
    expect(bump()).toBe(1);
  });

  it('spends the budget only while both the count and the money remain, on the revision read', () => {
    const { sql } = store();
    expect(sql.spend.get(100, NOW, 'spring', 1, 100)).toEqual({ issued_count: 1, issued_money: 100 });
    expect(sql.spend.get(100, NOW, 'spring', 1, 100)).toEqual({ issued_count: 2, issued_money: 200 });
    // 200 + 100 > 250: the money runs out before the count.
    expect(sql.spend.get(100, NOW, 'spring', 1, 100)).toBeUndefined();
    expect(sql.spend.get(50, NOW, 'spring', 2, 50)).toBeUndefined(); // a revision that is not current
    expect(sql.spend.get(50, NOW, 'spring', 1, 50)).toEqual({ issued_count: 3, issued_money: 250 });
    expect(sql.spend.get(0, NOW, 'spring', 1, 0)).toBeUndefined(); // the count is spent
  });

  it('uses a coupon on one order only, and only while it is issued and unexpired', () => {
    const { sql } = store();
    const insert = (id: string, code: string) =>
      sql.insertCoupon.run(id, code, 'spring', 'u', '{"kind":"fixed"}', 'CNY', 100, 0, NOW, NOW + 1000)
        .changes;
    expect(insert('c1', 'AAAAAAAAAA')).toBe(1);
    expect(insert('c2', 'AAAAAAAAAA')).toBe(0); // a code drawn twice is not stored twice
    expect(sql.redeem.run('order-1', 'm1', 100, NOW, 'c1', NOW + 1000).changes).toBe(0); // expired by then
    expect(sql.redeem.run('order-1', 'm1', 100, NOW, 'c1', NOW).changes).toBe(1);
    expect(sql.redeem.run('order-2', 'm1', 100, NOW, 'c1', NOW).changes).toBe(0);
    expect(sql.release.run('c1', 'order-2').changes).toBe(0); // not the order it was used on
    expect(sql.release.run('c1', 'order-1').changes).toBe(1);
    expect(sql.couponByCode.get('AAAAAAAAAA')).toMatchObject({ state: 'issued', order_id: null });
  });

  it('takes the write lock without changing anything', () => {
    const { rig, sql } = store();
    const before = rig.db.prepare('SELECT name, value FROM counters ORDER BY name').all();
    rig.db.transaction(() => sql.takeWriteLock.run())();
    expect(rig.db.prepare('SELECT name, value FROM counters ORDER BY name').all()).toEqual(before);
  });

  it('maps a coupon row to its record, with no minimum spend when it is zero', () => {
    const row: CouponRow = {
      coupon_id: 'c1',
      code: 'ABCDEFGHJK',
      campaign_id: 'spring',
      user_ref: 'ref',
      value: JSON.stringify({ kind: 'fixed', amount: CNY(100) }),
      currency: 'CNY',
      max_discount: 100,
      min_spend: 0,
      issued_at: NOW,
      expires_at: NOW + 1,
      state: 'redeemed',
      order_id: 'order-1',
      machine_id: 'm1',
      discount: 100,
      redeemed_at: NOW,
    };
    const record = toCouponRecord(row);
    expect(record).toMatchObject({
      couponId: 'c1',
      value: { kind: 'fixed', amount: CNY(100) },
      discount: CNY(100),
    });
    expect('minSpend' in record).toBe(false);
    expect(toCouponRecord({ ...row, min_spend: 200, discount: null })).toMatchObject({
      minSpend: CNY(200),
      discount: null,
    });
  });

  it('maps a campaign row to its status: ended first, then over, scheduled, exhausted, active', () => {
    const spec = campaignSpec();
    const row: CampaignRow = {
      campaign_id: 'spring',
      source: 'config',
      revision: 4,
      spec: JSON.stringify(spec),
      starts_at: NOW,
      ends_at: NOW + 10,
      ended_at: null,
      ended_reason: null,
      budget_count: 5,
      budget_money: 500,
      currency: 'CNY',
      issued_count: 5,
      issued_money: 500,
      exhausted_at: null,
    };
    const state = (over: Partial<CampaignRow>, at: number) =>
      toCampaignStatus({ ...row, ...over }, spec, at).state;
    expect(state({}, NOW)).toBe('active');
    expect(state({ exhausted_at: NOW }, NOW)).toBe('exhausted');
    expect(state({ exhausted_at: NOW }, NOW - 1)).toBe('scheduled');
    expect(state({ exhausted_at: NOW }, NOW + 10)).toBe('over');
    expect(state({ ended_at: NOW - 5 }, NOW - 10)).toBe('ended');
    expect(toCampaignStatus(row, spec, NOW)).toMatchObject({
      name: 'Spring shake',
      revision: 4,
      budget: { count: 5, money: CNY(500) },
      issued: { count: 5, money: CNY(500) },
    });
  });
});
