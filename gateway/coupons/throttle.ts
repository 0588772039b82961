import { type CouponSql, SUPPRESSED_REFUSALS, UNREPORTED_REFUSALS } from './sql.ts';

export interface RefusalRate {
  perSecond: number;
  burst: number;
}

/** No thinning: every refusal is its own event. */
export const EVERY_REFUSAL: RefusalRate = {
  perSecond: Number.POSITIVE_INFINITY,
  burst: Number.POSITIVE_INFINITY,
};

/**
 * A token bucket on a caller's clock: `burst` tokens at once, refilled at
 * `perSecond`. Pure in-memory state; the clock is passed in, so it is
 * deterministic under test.
 */
export class TokenBucket {
  readonly #rate: RefusalRate;
  #tokens: number;
  #refilledAt = 0;

  constructor(rate: RefusalRate) {
    this.#rate = rate;
    this.#tokens = rate.burst;
  }

  get unlimited(): boolean {
    return this.#rate.perSecond === Number.POSITIVE_INFINITY;
  }

  /** Takes a token if one is left at `now`. */
  take(now: number): boolean {
    if (this.unlimited) return true;
    if (now > this.#refilledAt) {
      this.#tokens = Math.min(
        this.#rate.burst,
        this.#tokens + ((now - this.#refilledAt) * this.#rate.perSecond) / 1000,
      );
      this.#refilledAt = now;
    }
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/**
 * Refusal throttling. A refusal event is sent while the bucket has tokens;
 * beyond it the refusal is counted durably (in the decision's transaction)
 * and the count rides on the next refusal event sent, as `suppressed`, so a
 * scripted burst cannot flood the outbox or the uplink and no refusal goes
 * unaccounted. Every decision is still recorded in the claims table.
 */
export class RefusalThrottle {
  readonly #sql: CouponSql;
  readonly #bucket: TokenBucket;
  /** Whether the durable unreported count may be non-zero (a count left by an earlier run counts). */
  #maybeUnreported = true;

  constructor(sql: CouponSql, rate: RefusalRate = EVERY_REFUSAL) {
    this.#sql = sql;
    this.#bucket = new TokenBucket(rate);
  }

  /**
   * Decides one refusal, inside its decision's transaction: send it (with
   * the count held back since the last one sent), or hold it back.
   */
  admit(now: number): { send: true; suppressed: number } | { send: false } {
    if (!this.#bucket.take(now)) {
      this.#sql.bumpCounter.run(UNREPORTED_REFUSALS);
      this.#sql.bumpCounter.run(SUPPRESSED_REFUSALS);
      this.#maybeUnreported = true;
      return { send: false };
    }
    // Read the durable count only when refusals may have been held back.
    const suppressed = this.#maybeUnreported ? this.#counter(UNREPORTED_REFUSALS) : 0;
    if (suppressed > 0) this.#sql.zeroCounter.run(UNREPORTED_REFUSALS);
    this.#maybeUnreported = !this.#bucket.unlimited;
    return { send: true, suppressed };
  }

  /** Refusals not sent individually: in all, and not yet reported on a later refusal event. */
  stats(): { suppressed: number; unreported: number } {
    return { suppressed: this.#counter(SUPPRESSED_REFUSALS), unreported: this.#counter(UNREPORTED_REFUSALS) };
  }

  #counter(name: string): number {
    return this.#sql.readCounter.get(name)?.value ?? 0;
  }
}
