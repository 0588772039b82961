import type { CampaignSpec, ClaimRequest } from '../../contract/coupons.ts';
import { ErrorCode } from '../../core/errors.ts';
import type { CampaignRow } from './sql.ts';
import { describeWindows, inWindows, localTime } from './time.ts';
import { type Refusal, refuse } from './types.ts';
import { maxDiscountOf } from './value.ts';
import type { BeaconVerdict } from './verifier.ts';

/**
 * The rules a claim is decided by, as pure functions of the request, the
 * campaign's terms and counters, and the clock. The store applies the two
 * rules that must hold under concurrency (the per-user cap and the budget)
 * again as guarded writes (see sql.ts); these checks give the refusal its
 * reason and spare the writes for claims that cannot succeed.
 */

export interface ClaimTiming {
  /** A claim whose shake (`seenAt`) is older than this is refused as stale. */
  maxAgeMs: number;
  /** How far `seenAt` may be ahead of the gateway clock. */
  maxSkewMs: number;
}

/**
 * Checks that need no store: the user id, the shake's age, the form of the
 * beacon id (`beaconId` is the request's id in canonical form, null if it is
 * not one).
 */
export function checkClaimRequest(
  req: ClaimRequest,
  beaconId: string | null,
  now: number,
  timing: ClaimTiming,
): Refusal | { ok: true; beaconId: string } {
  if (typeof req.userId !== 'string' || req.userId.length === 0 || req.userId.length > 128) {
    return refuse(ErrorCode.PayloadInvalid, 'the user id must be 1-128 characters');
  }
  const seenAt = req.seenAt;
  if (!Number.isSafeInteger(seenAt) || now - seenAt > timing.maxAgeMs || seenAt - now > timing.maxSkewMs) {
    return refuse(
      ErrorCode.CouponClaimStale,
      `the shake was seen at ${seenAt}, outside the ${timing.maxAgeMs} ms a claim is honoured for (now ${now})`,
    );
  }
  if (beaconId === null) {
    return refuse(ErrorCode.CouponBeaconUnknown, `"${String(req.beaconId).slice(0, 64)}" is not a beacon id`);
  }
  return { ok: true, beaconId };
}

/**
 * The beacon verifier's verdict as a rule: a refusal, or the id campaign
 * scopes are matched against (the verifier's stable id, else the one seen).
 */
export function scopeIdFrom(
  verdict: BeaconVerdict,
  beaconId: string,
): Refusal | { ok: true; scopeId: string } {
  if (!verdict.ok) return refuse(verdict.code, verdict.reason);
  return { ok: true, scopeId: verdict.canonicalId ?? beaconId };
}

export function beaconNotInCampaign(beaconId: string, campaignId: string): Refusal {
  return refuse(
    ErrorCode.CouponBeaconUnknown,
    `beacon ${beaconId} is not in campaign ${campaignId}`,
    campaignId,
  );
}

export function unknownCampaign(campaignId: string): Refusal {
  return refuse(ErrorCode.CouponCampaignUnknown, `no campaign ${campaignId}`, campaignId);
}

export function noCampaignCovers(beaconId: string): Refusal {
  return refuse(ErrorCode.CouponCampaignNotActive, `no running campaign covers beacon ${beaconId}`);
}

/** What issuing one coupon of a campaign takes: the money budget's share and the user's local day. */
export interface IssueTerms {
  ok: true;
  /** The most this coupon can take off, in the budget's minor units. */
  perCoupon: number;
  /** The local date (YYYY-MM-DD) the per-user cap counts against. */
  day: string;
}

/**
 * Whether a campaign may issue a coupon for a shake seen at `seenAt`: not
 * ended, within its dates and its local-time windows, with a coupon left in
 * both the count and the money budget (counted at each coupon's largest
 * discount, so redemptions can never exceed it).
 */
export function checkCampaignFor(row: CampaignRow, spec: CampaignSpec, seenAt: number): Refusal | IssueTerms {
  const id = row.campaign_id;
  if (row.ended_at !== null) return refuse(ErrorCode.CouponCampaignNotActive, `campaign ${id} has ended`, id);
  if (seenAt < row.starts_at) {
    return refuse(
      ErrorCode.CouponCampaignNotActive,
      `campaign ${id} starts at ${new Date(row.starts_at).toISOString()}`,
      id,
    );
  }
  if (seenAt >= row.ends_at) {
    return refuse(
      ErrorCode.CouponCampaignNotActive,
      `campaign ${id} ended at ${new Date(row.ends_at).toISOString()}`,
      id,
    );
  }
  const local = localTime(seenAt, spec.timeZone);
  if (!inWindows(local, spec.windows)) {
    return refuse(
      ErrorCode.CouponOutsideWindow,
      `campaign ${id} runs ${describeWindows(spec.windows, spec.timeZone)}`,
      id,
    );
  }
  const perCoupon = maxDiscountOf(spec.value);
  if (row.issued_count >= row.budget_count) {
    return refuse(
      ErrorCode.CouponBudgetExhausted,
      `campaign ${id} has issued all ${row.budget_count} coupons`,
      id,
    );
  }
  if (row.issued_money + perCoupon > row.budget_money) {
    return refuse(
      ErrorCode.CouponMoneyBudgetExhausted,
      `campaign ${id} has committed ${row.issued_money} of its ${row.budget_money} ${spec.budget.money.currency}; a coupon needs ${perCoupon}`,
      id,
    );
  }
  return { ok: true, perCoupon, day: local.day };
}

export function userCapReached(spec: CampaignSpec, campaignId: string, day: string): Refusal {
  return refuse(
    ErrorCode.CouponUserCapReached,
    `this user already has ${spec.perUserPerDay} coupon(s) from campaign ${campaignId} on ${day}`,
    campaignId,
  );
}

/** The budget's guarded write found nothing left: another writer spent it since the row was read. */
export function budgetSpentMeanwhile(campaignId: string): Refusal {
  return refuse(ErrorCode.CouponBudgetExhausted, `campaign ${campaignId} has no budget left`, campaignId);
}

/** Whether, after a coupon was issued, the campaign has no room for another one. */
export function exhaustedAfter(
  spent: { issued_count: number; issued_money: number },
  budget: { count: number; money: number },
  perCoupon: number,
): boolean {
  return spent.issued_count >= budget.count || spent.issued_money + perCoupon > budget.money;
}
