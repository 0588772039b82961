import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { Money } from '../../core/money.ts';
import type { RedeemOrder, RedeemResult } from '../ledger/ledger.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { Db } from '../store/db.ts';
import type { Campaigns } from './campaigns.ts';
import { normalizeCouponCode } from './codes.ts';
import { type CouponRow, type CouponSql, couponValueOf, toCouponRecord } from './sql.ts';
import { type CouponRecord, type QuoteResult, refuse } from './types.ts';
import { discountFor } from './value.ts';

/**
 * Redemption: pricing an order with a coupon, using the coupon on exactly
 * one order inside the ledger's transaction, and giving it back when that
 * order is refunded.
 */
export class Redemption {
  readonly #db: Db;
  readonly #sql: CouponSql;
  readonly #campaigns: Campaigns;
  readonly #outbox: Outbox;
  readonly #now: () => number;

  constructor(opts: { db: Db; sql: CouponSql; campaigns: Campaigns; outbox: Outbox; now: () => number }) {
    this.#db = opts.db;
    this.#sql = opts.sql;
    this.#campaigns = opts.campaigns;
    this.#outbox = opts.outbox;
    this.#now = opts.now;
  }

  /**
   * What a coupon would take off a list price at a machine, without using
   * it: for the select-then-pay flow to price an order before creating it.
   */
  quote(code: string, listPrice: Money, machineId: string, at: number): QuoteResult {
    const row = this.#byCode(code);
    if (!row) return refuse(ErrorCode.CouponUnknown, 'no such coupon');
    return this.#quoteRow(row, listPrice, machineId, at);
  }

  /**
   * Uses a coupon on an order, inside the caller's transaction (the ledger's
   * `receivePaid`, or the select-then-pay flow's own). Checks the paid amount
   * is the list price less the discount before using it; a coupon is used by
   * one order only (a guarded UPDATE), and the same order asking again gets
   * the same answer.
   */
  redeemInTx(code: string, order: RedeemOrder): RedeemResult {
    this.#requireTx('redeemInTx');
    const now = this.#now();
    const row = this.#byCode(code);
    if (!row) return refuse(ErrorCode.CouponUnknown, 'no such coupon');
    if (row.state === 'redeemed' && row.order_id === order.orderId) {
      return {
        ok: true,
        couponId: row.coupon_id,
        discount: { amount: row.discount ?? 0, currency: row.currency },
      };
    }
    const onOrder = this.#sql.couponByOrder.get(order.orderId);
    if (onOrder) {
      return refuse(
        ErrorCode.CouponAlreadyRedeemed,
        `order ${order.orderId} already used coupon ${onOrder.coupon_id}`,
      );
    }
    const q = this.#quoteRow(row, order.listPrice, order.machineId, now);
    if (!q.ok) return q;
    if (order.paid.currency !== q.price.currency || order.paid.amount !== q.price.amount) {
      return refuse(
        ErrorCode.CouponAmountInvalid,
        `paid ${order.paid.amount} ${order.paid.currency} but the list price ${order.listPrice.amount} less coupon ${row.coupon_id} (${q.discount.amount}) is ${q.price.amount} ${q.price.currency}`,
      );
    }
    const changed = this.#sql.redeem.run(
      order.orderId,
      order.machineId,
      q.discount.amount,
      now,
      row.coupon_id,
      now,
    ).changes;
    if (changed !== 1) {
      return refuse(ErrorCode.CouponAlreadyRedeemed, `coupon ${row.coupon_id} was already redeemed`);
    }
    this.#outbox.append('coupon.redeemed', {
      couponId: row.coupon_id,
      campaignId: row.campaign_id,
      orderId: order.orderId,
      machineId: order.machineId,
      listPrice: order.listPrice,
      discount: q.discount,
      paid: order.paid,
    });
    return { ok: true, couponId: row.coupon_id, discount: q.discount };
  }

  /**
   * The order this coupon was redeemed on was refunded: the coupon is issued
   * again (the expiry job still expires it on time). Runs in the refund's
   * transaction; a second call for the same order does nothing.
   */
  releaseInTx(orderId: string, reason: string): boolean {
    this.#requireTx('releaseInTx');
    const row = this.#sql.couponByOrder.get(orderId);
    if (row?.state !== 'redeemed') return false;
    if (this.#sql.release.run(row.coupon_id, orderId).changes !== 1) return false;
    this.#outbox.append('coupon.released', {
      couponId: row.coupon_id,
      campaignId: row.campaign_id,
      orderId,
      reason: reason.slice(0, 200),
    });
    return true;
  }

  coupon(code: string): CouponRecord | undefined {
    const row = this.#byCode(code);
    return row ? toCouponRecord(row) : undefined;
  }

  #byCode(code: string): CouponRow | undefined {
    const norm = normalizeCouponCode(code);
    return norm === null ? undefined : this.#sql.couponByCode.get(norm);
  }

  #quoteRow(row: CouponRow, listPrice: Money, machineId: string, at: number): QuoteResult {
    if (row.state === 'redeemed') {
      return refuse(ErrorCode.CouponAlreadyRedeemed, `coupon ${row.coupon_id} was already redeemed`);
    }
    if (row.state === 'expired' || row.expires_at <= at) {
      return refuse(
        ErrorCode.CouponExpired,
        `coupon ${row.coupon_id} expired at ${new Date(row.expires_at).toISOString()}`,
      );
    }
    if (listPrice.currency !== row.currency) {
      return refuse(
        ErrorCode.CouponCurrencyMismatch,
        `coupon ${row.coupon_id} is in ${row.currency}, the price in ${listPrice.currency}`,
      );
    }
    const campaign = this.#campaigns.row(row.campaign_id);
    const machines = campaign ? this.#campaigns.spec(campaign).machines : undefined;
    if (machines && !machines.includes(machineId)) {
      return refuse(
        ErrorCode.CouponMachineNotInScope,
        `coupon ${row.coupon_id} is not valid at machine ${machineId}`,
      );
    }
    if (listPrice.amount < row.min_spend) {
      return refuse(
        ErrorCode.CouponMinSpendNotMet,
        `coupon ${row.coupon_id} needs a price of at least ${row.min_spend} ${row.currency}; this is ${listPrice.amount}`,
      );
    }
    const discount = discountFor(couponValueOf(row), listPrice.amount);
    return {
      ok: true,
      couponId: row.coupon_id,
      campaignId: row.campaign_id,
      listPrice,
      discount: { amount: discount, currency: row.currency },
      price: { amount: listPrice.amount - discount, currency: row.currency },
    };
  }

  /** Using or releasing a coupon outside the order's transaction could commit one without the other. */
  #requireTx(method: string): void {
    if (!this.#db.inTransaction) {
      throw new VendgateError(
        ErrorCode.StoreNotInTransaction,
        `${method} must run inside the caller’s transaction (the order's), so the coupon and the order commit together`,
        { method },
      );
    }
  }
}
