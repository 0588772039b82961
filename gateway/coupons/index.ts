export {
  BeaconId,
  beaconInScope,
  CampaignConfig,
  CampaignSpec,
  ClaimRequest,
  CouponCode,
  CouponValue,
  canonicalBeaconId,
  TimeWindow,
} from '../../contract/coupons.ts';
export { CODE_LENGTH, newCouponCode, normalizeCouponCode, Pseudonymizer } from './codes.ts';
export {
  type CampaignResult,
  type CampaignStatus,
  type ClaimResult,
  CouponEngine,
  type CouponEngineOptions,
  type CouponRecord,
  type CouponState,
  discountFor,
  type IssuedCoupon,
  maxDiscountOf,
  type QuoteResult,
  type Refusal,
} from './engine.ts';
export { inWindows, type LocalTime, localTime } from './time.ts';
export { type BeaconVerdict, type BeaconVerifier, StaticBeaconVerifier } from './verifier.ts';
