import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ClaimRequest } from '../../contract/coupons.ts';
import { ErrorCode } from '../../core/errors.ts';
import { BEACON, CNY, campaignSpec, MONDAY_NOON_SHANGHAI } from '../../test/support/coupons.ts';
import { checkCampaignFor, checkClaimRequest, exhaustedAfter, scopeIdFrom } from './rules.ts';
import type { CampaignRow } from './sql.ts';

const NOW = MONDAY_NOON_SHANGHAI;
const TIMING = { maxAgeMs: 5 * 60_000, maxSkewMs: 30_000 };
const HOUR = 3_600_000;

const request = (over: Partial<ClaimRequest> = {}): ClaimRequest => ({
  userId: 'openid-1',
  beaconId: BEACON,
  seenAt: NOW,
  ...over,
});

/** A campaign row as the store holds it, for the spec of `campaignSpec(over)`. */
function rowFor(over: Partial<CampaignRow> = {}): CampaignRow {
  const spec = campaignSpec();
  return {
    campaign_id: spec.id,
    source: 'platform',
    revision: 1,
    spec: JSON.stringify(spec),
    starts_at: spec.startsAt,
    ends_at: spec.endsAt,
    ended_at: null,
    ended_reason: null,
    budget_count: spec.budget.count,
    budget_money: spec.budget.money.amount,
    currency: 'CNY',
    issued_count: 0,
    issued_money: 0,
    exhausted_at: null,
    ...over,
  };
}

describe('claim rules', () => {
  it('accepts a fresh claim from a user with a beacon id, and names the canonical id', () => {
    expect(checkClaimRequest(request(), BEACON, NOW, TIMING)).toEqual({ ok: true, beaconId: BEACON });
  });

  it('refuses a user id that is empty or longer than 128 characters', () => {
    for (const userId of ['', 'x'.repeat(129)]) {
      expect(checkClaimRequest(request({ userId }), BEACON, NOW, TIMING)).toMatchObject({
        ok: false,
        code: ErrorCode.PayloadInvalid,
      });
    }
  });

  it('refuses a shake older than the claim age or further ahead than the clock skew, and honours the edges', () => {
    const at = (seenAt: number) => checkClaimRequest(request({ seenAt }), BEACON, NOW, TIMING);
    expect(at(NOW - TIMING.maxAgeMs).ok).toBe(true);
    expect(at(NOW + TIMING.maxSkewMs).ok).toBe(true);
    expect(at(NOW - TIMING.maxAgeMs - 1)).toMatchObject({ code: ErrorCode.CouponClaimStale });
    expect(at(NOW + TIMING.maxSkewMs + 1)).toMatchObject({ code: ErrorCode.CouponClaimStale });
    expect(at(Number.NaN)).toMatchObject({ code: ErrorCode.CouponClaimStale });
  });

  it('refuses a beacon id that is not one, quoting at most 64 characters of it', () => {
    const r = checkClaimRequest(request({ beaconId: `junk${'x'.repeat(200)}` }), null, NOW, TIMING);
    expect(r).toMatchObject({ ok: false, code: ErrorCode.CouponBeaconUnknown });
    expect(r.ok ? '' : r.reason.length).toBeLessThan(90);
  });

  it('takes the beacon verdict: its refusal as is, else the verifier’s stable id or the id seen', () => {
    const refused = { ok: false as const, code: ErrorCode.CouponBeaconStale, reason: 'cloned' };
    expect(scopeIdFrom(refused, BEACON)).toEqual({
      ok: false,
      code: ErrorCode.CouponBeaconStale,
      reason: 'cloned',
    });
    expect(scopeIdFrom({ ok: true }, BEACON)).toEqual({ ok: true, scopeId: BEACON });
    expect(scopeIdFrom({ ok: true, canonicalId: 'ibeacon:X:1:1' }, BEACON)).toEqual({
      ok: true,
      scopeId: 'ibeacon:X:1:1',
    });
  });

  it('refuses a campaign that ended, has not started, or is past its end, by the time of the shake', () => {
    const spec = campaignSpec();
    expect(checkCampaignFor(rowFor({ ended_at: NOW - 1 }), spec, NOW)).toMatchObject({
      code: ErrorCode.CouponCampaignNotActive,
      campaignId: 'spring',
    });
    expect(checkCampaignFor(rowFor({ starts_at: NOW + 1 }), spec, NOW)).toMatchObject({
      code: ErrorCode.CouponCampaignNotActive,
    });
    expect(checkCampaignFor(rowFor({ ends_at: NOW }), spec, NOW)).toMatchObject({
      code: ErrorCode.CouponCampaignNotActive,
    });
    expect(checkCampaignFor(rowFor({ starts_at: NOW, ends_at: NOW + 1 }), spec, NOW).ok).toBe(true);
  });

  it('refuses outside the local-time windows and counts the cap against the local day', () => {
    const spec = campaignSpec({ windows: [{ days: [1], from: '11:00', to: '13:00' }] });
    expect(checkCampaignFor(rowFor(), spec, NOW)).toEqual({ ok: true, perCoupon: 100, day: '2026-03-02' });
    expect(checkCampaignFor(rowFor(), spec, NOW + 2 * HOUR)).toMatchObject({
      code: ErrorCode.CouponOutsideWindow,
    });
    // 00:30 on Tuesday in Shanghai is still Monday in UTC: the day is local.
    const late = Date.parse('2026-03-03T00:30:00+08:00');
    expect(checkCampaignFor(rowFor(), campaignSpec(), late)).toMatchObject({ day: '2026-03-03' });
  });

  it('refuses when the count budget is spent, or the money budget has no room for this coupon’s largest discount', () => {
    const pct = campaignSpec({ value: { kind: 'percent', percent: 50, maxDiscount: CNY(200) } });
    expect(checkCampaignFor(rowFor({ budget_count: 3, issued_count: 3 }), pct, NOW)).toMatchObject({
      code: ErrorCode.CouponBudgetExhausted,
    });
    expect(checkCampaignFor(rowFor({ budget_money: 1000, issued_money: 801 }), pct, NOW)).toMatchObject({
      code: ErrorCode.CouponMoneyBudgetExhausted,
    });
    expect(checkCampaignFor(rowFor({ budget_money: 1000, issued_money: 800 }), pct, NOW)).toMatchObject({
      ok: true,
      perCoupon: 200,
    });
  });

  it('issues only with room in both budgets, and calls a campaign exhausted exactly when no further coupon fits (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 0, max: 6000 }),
        fc.integer({ min: 1, max: 500 }),
        (budgetCount, issuedCount, budgetMoney, issuedMoney, perCoupon) => {
          const spec = campaignSpec({ value: { kind: 'fixed', amount: CNY(perCoupon) } });
          const row = rowFor({
            budget_count: budgetCount,
            issued_count: issuedCount,
            budget_money: budgetMoney,
            issued_money: issuedMoney,
          });
          const r = checkCampaignFor(row, spec, NOW);
          const fits = issuedCount < budgetCount && issuedMoney + perCoupon <= budgetMoney;
          expect(r.ok).toBe(fits);
          const spent = { issued_count: issuedCount, issued_money: issuedMoney };
          expect(exhaustedAfter(spent, { count: budgetCount, money: budgetMoney }, perCoupon)).toBe(!fits);
        },
      ),
    );
  });
});
