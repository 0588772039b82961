import type { CampaignSpec, CouponValue } from '../../contract/coupons.ts';
import type { ErrorCodeValue } from '../../core/errors.ts';
import type { Money } from '../../core/money.ts';

/** The results and records the coupon engine hands out; shared by its parts. */

export interface IssuedCoupon {
  couponId: string;
  code: string;
  campaignId: string;
  value: CouponValue;
  minSpend?: Money;
  issuedAt: number;
  expiresAt: number;
}

export type Refusal = { ok: false; code: ErrorCodeValue; reason: string; campaignId?: string };
export type ClaimResult = { ok: true; coupon: IssuedCoupon } | Refusal;

export type QuoteResult =
  | { ok: true; couponId: string; campaignId: string; listPrice: Money; discount: Money; price: Money }
  | { ok: false; code: ErrorCodeValue; reason: string };

export type CampaignResult = { ok: true; revision: number; changed: boolean } | Refusal;

export type CouponState = 'issued' | 'redeemed' | 'expired';

export interface CouponRecord extends IssuedCoupon {
  state: CouponState;
  userRef: string;
  orderId: string | null;
  machineId: string | null;
  discount: Money | null;
  redeemedAt: number | null;
}

export interface CampaignStatus {
  id: string;
  name: string;
  source: 'config' | 'platform';
  revision: number;
  /** As of `at` (default now): not started, running, out of budget, past its end or ended. */
  state: 'scheduled' | 'active' | 'exhausted' | 'over' | 'ended';
  spec: CampaignSpec;
  budget: { count: number; money: Money };
  issued: { count: number; money: Money };
  endedAt: number | null;
  endedReason: string | null;
}

export const refuse = (code: ErrorCodeValue, reason: string, campaignId?: string): Refusal =>
  campaignId === undefined ? { ok: false, code, reason } : { ok: false, code, reason, campaignId };
