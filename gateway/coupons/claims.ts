import {
  beaconInScope,
  type CampaignSpec,
  type ClaimRequest,
  canonicalBeaconId,
} from '../../contract/coupons.ts';
import type { Log } from '../../core/log.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { Campaigns } from './campaigns.ts';
import { newCouponCode, newCouponId, type Pseudonymizer } from './codes.ts';
import {
  beaconNotInCampaign,
  budgetSpentMeanwhile,
  type ClaimTiming,
  checkCampaignFor,
  checkClaimRequest,
  exhaustedAfter,
  noCampaignCovers,
  scopeIdFrom,
  unknownCampaign,
  userCapReached,
} from './rules.ts';
import type { CampaignRow, CouponSql } from './sql.ts';
import type { RefusalThrottle } from './throttle.ts';
import type { ClaimResult, IssuedCoupon, Refusal } from './types.ts';
import type { BeaconVerifier } from './verifier.ts';

/** Draws of a fresh coupon id and code before giving up (a collision is a 1 in 32^10 event). */
const MAX_CODE_DRAWS = 9;

export interface ClaimDeciderOptions {
  sql: CouponSql;
  campaigns: Campaigns;
  outbox: Outbox;
  verifier: BeaconVerifier;
  pseudonymizer: Pseudonymizer;
  throttle: RefusalThrottle;
  timing: ClaimTiming;
  now: () => number;
  log?: Log;
}

/**
 * Decides a claim inside the caller's transaction: applies the rules
 * (rules.ts), spends the per-user cap and the budget with their guarded
 * writes, issues the coupon, and records the decision (claims row and
 * outbox event) in the same transaction, so the decision and its record are
 * all or nothing. Issued events are critical; refusals are telemetry, so a
 * scripted burst of refusals can only push out other telemetry, never money
 * events.
 */
export class ClaimDecider {
  readonly #sql: CouponSql;
  readonly #campaigns: Campaigns;
  readonly #outbox: Outbox;
  readonly #verifier: BeaconVerifier;
  readonly #pseudo: Pseudonymizer;
  readonly #throttle: RefusalThrottle;
  readonly #timing: ClaimTiming;
  readonly #now: () => number;
  readonly #log: Log | undefined;

  constructor(opts: ClaimDeciderOptions) {
    this.#sql = opts.sql;
    this.#campaigns = opts.campaigns;
    this.#outbox = opts.outbox;
    this.#verifier = opts.verifier;
    this.#pseudo = opts.pseudonymizer;
    this.#throttle = opts.throttle;
    this.#timing = opts.timing;
    this.#now = opts.now;
    this.#log = opts.log;
  }

  /** One claim, inside the caller's transaction. */
  decide(req: ClaimRequest): ClaimResult {
    const now = this.#now();
    const userRef = this.#pseudo.ref(String(req.userId));
    const beaconId = canonicalBeaconId(String(req.beaconId));
    const result = this.#decide(req, beaconId, userRef, now);
    this.#record(req, result, (beaconId ?? String(req.beaconId)).slice(0, 128), userRef, now);
    return result;
  }

  #decide(req: ClaimRequest, seenBeacon: string | null, userRef: string, now: number): ClaimResult {
    const checked = checkClaimRequest(req, seenBeacon, now, this.#timing);
    if (!checked.ok) return checked;
    const { beaconId } = checked;
    const scope = scopeIdFrom(this.#verifier.verify(beaconId, req.seenAt), beaconId);
    if (!scope.ok) return scope;
    if (req.campaignId !== undefined) {
      const row = this.#campaigns.row(req.campaignId);
      if (!row) return unknownCampaign(req.campaignId);
      const spec = this.#campaigns.spec(row);
      if (!beaconInScope(scope.scopeId, spec.beacons)) return beaconNotInCampaign(beaconId, row.campaign_id);
      return this.#tryIssue(row, spec, userRef, req.seenAt, now);
    }
    // No campaign named: the open campaigns covering the beacon in turn; the
    // first refusal explains the claim if none issues.
    let first: Refusal | undefined;
    for (const row of this.#campaigns.openRows()) {
      const spec = this.#campaigns.spec(row);
      if (!beaconInScope(scope.scopeId, spec.beacons)) continue;
      const r = this.#tryIssue(row, spec, userRef, req.seenAt, now);
      if (r.ok) return r;
      first ??= r;
    }
    return first ?? noCampaignCovers(beaconId);
  }

  #tryIssue(row: CampaignRow, spec: CampaignSpec, userRef: string, seenAt: number, now: number): ClaimResult {
    const terms = checkCampaignFor(row, spec, seenAt);
    if (!terms.ok) return terms;
    const id = row.campaign_id;
    if (this.#sql.bumpUser.run(id, userRef, terms.day, spec.perUserPerDay).changes !== 1) {
      return userCapReached(spec, id, terms.day);
    }
    const spent = this.#sql.spend.get(terms.perCoupon, now, id, row.revision, terms.perCoupon);
    if (!spent) {
      // Only reachable if another writer changed the campaign since it was read.
      this.#sql.unbumpUser.run(id, userRef, terms.day);
      return budgetSpentMeanwhile(id);
    }
    const coupon = this.#insertCoupon(row, spec, userRef, terms.perCoupon, now);
    if (exhaustedAfter(spent, { count: row.budget_count, money: row.budget_money }, terms.perCoupon)) {
      this.#campaigns.markExhausted(id, now);
    }
    return { ok: true, coupon };
  }

  #insertCoupon(
    row: CampaignRow,
    spec: CampaignSpec,
    userRef: string,
    perCoupon: number,
    now: number,
  ): IssuedCoupon {
    const coupon: IssuedCoupon = {
      couponId: '',
      code: '',
      campaignId: row.campaign_id,
      value: spec.value,
      ...(spec.minSpend ? { minSpend: spec.minSpend } : {}),
      issuedAt: now,
      expiresAt: now + spec.validityMs,
    };
    const valueJson = JSON.stringify(spec.value);
    for (let draw = 1; ; draw++) {
      coupon.couponId = newCouponId();
      coupon.code = newCouponCode();
      const inserted = this.#sql.insertCoupon.run(
        coupon.couponId,
        coupon.code,
        row.campaign_id,
        userRef,
        valueJson,
        spec.budget.money.currency,
        perCoupon,
        spec.minSpend?.amount ?? 0,
        coupon.issuedAt,
        coupon.expiresAt,
      );
      if (inserted.changes === 1) return coupon;
      if (draw >= MAX_CODE_DRAWS) throw new Error('could not draw a unique coupon code');
    }
  }

  /** The decision on record: a claims row always, and its event. */
  #record(req: ClaimRequest, result: ClaimResult, beacon: string, userRef: string, now: number): void {
    const claimId = req.claimId ?? null;
    if (result.ok) {
      const c = result.coupon;
      this.#sql.insertClaim.run(now, req.seenAt, c.campaignId, userRef, beacon, claimId, null, c.couponId);
      this.#outbox.append('coupon.issued', {
        couponId: c.couponId,
        code: c.code,
        campaignId: c.campaignId,
        userRef,
        beaconId: beacon,
        ...(req.claimId === undefined ? {} : { claimId: req.claimId }),
        value: c.value,
        ...(c.minSpend ? { minSpend: c.minSpend } : {}),
        issuedAt: c.issuedAt,
        expiresAt: c.expiresAt,
      });
      this.#log?.debug({ campaignId: c.campaignId, couponId: c.couponId, userRef }, 'coupon issued');
      return;
    }
    this.#sql.insertClaim.run(
      now,
      Number.isSafeInteger(req.seenAt) ? req.seenAt : 0,
      result.campaignId ?? null,
      userRef,
      beacon,
      claimId,
      result.code,
      null,
    );
    const admitted = this.#throttle.admit(now);
    if (admitted.send) {
      this.#outbox.tryAppend('coupon.refused', {
        ...(result.campaignId === undefined ? {} : { campaignId: result.campaignId }),
        userRef,
        beaconId: beacon,
        ...(req.claimId === undefined ? {} : { claimId: req.claimId }),
        code: result.code,
        reason: result.reason,
        ...(admitted.suppressed > 0 ? { suppressed: admitted.suppressed } : {}),
      });
    }
    this.#log?.debug({ campaignId: result.campaignId, userRef, code: result.code }, 'coupon refused');
  }
}
