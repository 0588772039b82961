import type { Outbox } from '../outbox/outbox.ts';
import type { Db } from '../store/db.ts';
import { inTx } from '../store/tx.ts';
import type { CouponSql } from './sql.ts';

export const DAY_MS = 86_400_000;

/** Coupons expired per transaction: bounded, so a backlog never holds the write lock for long. */
const EXPIRE_BATCH = 500;

/**
 * Expiry and retention: what keeps the coupon tables true and small. The
 * gateway runs both periodically through `CouponEngine.expire` and `purge`.
 */
export class Housekeeping {
  readonly #db: Db;
  readonly #sql: CouponSql;
  readonly #outbox: Outbox;
  readonly #retentionMs: number;

  constructor(opts: { db: Db; sql: CouponSql; outbox: Outbox; retentionMs: number }) {
    this.#db = opts.db;
    this.#sql = opts.sql;
    this.#outbox = opts.outbox;
    this.#retentionMs = opts.retentionMs;
  }

  /** Marks issued coupons past their expiry expired, each with a `coupon.expired` event. */
  expire(now: number): number {
    let total = 0;
    for (;;) {
      const n = inTx(this.#db, (): number => {
        let count = 0;
        for (const row of this.#sql.dueToExpire.all(now, EXPIRE_BATCH)) {
          if (this.#sql.markExpired.run(row.coupon_id).changes !== 1) continue;
          this.#outbox.append('coupon.expired', {
            couponId: row.coupon_id,
            campaignId: row.campaign_id,
            expiresAt: row.expires_at,
          });
          count++;
        }
        return count;
      });
      total += n;
      if (n < EXPIRE_BATCH) return total;
    }
  }

  /**
   * Retention: removes claims decided before `now - retentionMs`, per-user
   * day counters of days that are over in every time zone, and the user
   * reference of coupons settled (redeemed or expired) before the limit.
   */
  purge(now: number): { claims: number; userDays: number; coupons: number } {
    const cutoff = now - this.#retentionMs;
    // A local day is over everywhere once UTC is two dates past it.
    const oldDay = new Date(now - 2 * DAY_MS).toISOString().slice(0, 10);
    return inTx(this.#db, () => ({
      claims: this.#sql.purgeClaims.run(cutoff).changes,
      userDays: this.#sql.purgeUserDays.run(oldDay).changes,
      coupons: this.#sql.purgeUserRefs.run(cutoff, cutoff).changes,
    }));
  }
}
