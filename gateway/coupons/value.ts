import type { CouponValue } from '../../contract/coupons.ts';

/** The most one coupon of this value can take off: what the money budget counts. */
export function maxDiscountOf(value: CouponValue): number {
  return value.kind === 'fixed' ? value.amount.amount : value.maxDiscount.amount;
}

/** The discount a coupon gives on a list price: never more than the price or the coupon's cap. */
export function discountFor(value: CouponValue, listAmount: number): number {
  const raw = value.kind === 'fixed' ? value.amount.amount : Math.floor((listAmount * value.percent) / 100);
  return Math.max(0, Math.min(raw, maxDiscountOf(value), listAmount));
}
