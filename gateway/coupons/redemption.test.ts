import { beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { BEACON, CNY, campaignSpec, eventsOf, openRig, type Rig } from '../../test/support/coupons.ts';
import { cleanupsAfterEach, expectVendgateError } from '../../testing/index.ts';
import { catalogFrom } from '../ledger/catalog.ts';
import { OrderLedger } from '../ledger/ledger.ts';
import type { IssuedCoupon } from './types.ts';

describe('coupon redemption with the order ledger', () => {
  const cleanups = cleanupsAfterEach();
  let rig: Rig;
  let ledger: OrderLedger;
  let coupon: IssuedCoupon;

  const paid = (orderId: string, over: Record<string, unknown> = {}) => ({
    orderId,
    machineId: 'm1',
    slot: 1,
    price: CNY(250),
    provider: 'wechat',
    expiresAt: rig.clock.now + 60_000,
    couponCode: coupon.code,
    ...over,
  });

  beforeEach(async () => {
    rig = openRig(cleanups);
    ledger = new OrderLedger({
      db: rig.db,
      outbox: rig.outbox,
      now: () => rig.clock.now,
      coupons: rig.engine,
      catalog: catalogFrom([
        { machineId: 'm1', slots: [{ slot: 1, price: CNY(350) }, { slot: 2, price: CNY(150) }, { slot: 3 }] },
        { machineId: 'm2', slots: [{ slot: 1, price: CNY(350) }] },
      ]),
    });
    rig.engine.upsertCampaign(
      campaignSpec({ minSpend: CNY(200), machines: ['m1'], validityMs: 3_600_000, perUserPerDay: 5 }),
    );
    const r = await rig.engine.claim({ userId: 'alice', beaconId: BEACON, seenAt: rig.clock.now });
    if (!r.ok) throw new Error(r.reason);
    coupon = r.coupon;
  });

  it('redeems a coupon once: a second order with the same coupon is refused with a refund request', () => {
    const first = ledger.receivePaid(paid('order-0001'));
    expect(first.kind).toBe('accepted');
    expect(first.order.couponId).toBe(coupon.couponId);
    expect(rig.engine.coupon(coupon.code)).toMatchObject({
      state: 'redeemed',
      orderId: 'order-0001',
      discount: CNY(100),
    });

    // The platform retries the same notification: a duplicate, not a second use.
    expect(ledger.receivePaid(paid('order-0001')).kind).toBe('duplicate');

    const second = ledger.receivePaid(paid('order-0002'));
    expect(second.kind).toBe('refused');
    expect(second.order).toMatchObject({
      state: 'refund_requested',
      outcomeCode: ErrorCode.CouponAlreadyRedeemed,
      couponId: null,
    });
    const refund = eventsOf(rig.outbox, 'refund.requested');
    expect(refund).toEqual([
      {
        type: 'refund.requested',
        data: expect.objectContaining({
          orderId: 'order-0002',
          refund: CNY(250),
          code: ErrorCode.CouponAlreadyRedeemed,
        }),
      },
    ]);
    expect(eventsOf(rig.outbox, 'coupon.redeemed').map((e) => e.data)).toEqual([
      {
        couponId: coupon.couponId,
        campaignId: 'spring',
        orderId: 'order-0001',
        machineId: 'm1',
        listPrice: CNY(350),
        discount: CNY(100),
        paid: CNY(250),
      },
    ]);
  });

  it('refuses an order that paid the wrong amount for its coupon, and leaves the coupon usable', () => {
    const full = ledger.receivePaid(paid('order-full', { price: CNY(350) }));
    expect(full).toMatchObject({ kind: 'refused', code: ErrorCode.CouponAmountInvalid });
    const tooLittle = ledger.receivePaid(paid('order-less', { price: CNY(1) }));
    expect(tooLittle).toMatchObject({ kind: 'refused', code: ErrorCode.CouponAmountInvalid });
    expect(rig.engine.coupon(coupon.code)!.state).toBe('issued');
    expect(ledger.receivePaid(paid('order-good')).kind).toBe('accepted');
  });

  it('refuses a coupon below its minimum spend, at a machine outside its scope, unknown, or without a price', () => {
    expect(ledger.receivePaid(paid('order-min', { slot: 2, price: CNY(50) }))).toMatchObject({
      code: ErrorCode.CouponMinSpendNotMet,
    });
    expect(ledger.receivePaid(paid('order-mach', { machineId: 'm2' }))).toMatchObject({
      code: ErrorCode.CouponMachineNotInScope,
    });
    expect(ledger.receivePaid(paid('order-unkn', { couponCode: 'ZZZZZZZZZZ' }))).toMatchObject({
      code: ErrorCode.CouponUnknown,
    });
    expect(ledger.receivePaid(paid('order-nopr', { slot: 3 }))).toMatchObject({
      code: ErrorCode.CouponPriceUnknown,
    });
    // ...unless the flow knows the list price (a cashless vend request names it).
    expect(
      ledger.receivePaid(paid('order-cash', { slot: 3 }), 'cashless', { listPrice: CNY(350) }).kind,
    ).toBe('accepted');
  });

  it('checks the order before the coupon, so an order refused for another reason does not use it up', () => {
    expect(ledger.receivePaid(paid('order-late', { expiresAt: rig.clock.now - 1 }))).toMatchObject({
      code: ErrorCode.OrderExpired,
    });
    expect(ledger.receivePaid(paid('order-slot', { slot: 9 }))).toMatchObject({
      code: ErrorCode.OrderUnknownSlot,
    });
    expect(rig.engine.coupon(coupon.code)!.state).toBe('issued');
  });

  it('quotes the discounted price without using the coupon, and accepts codes typed loosely', async () => {
    const loose = `${coupon.code.slice(0, 5).toLowerCase()}-${coupon.code.slice(5)}`;
    expect(rig.engine.quote(loose, CNY(350), 'm1')).toMatchObject({
      ok: true,
      couponId: coupon.couponId,
      discount: CNY(100),
      price: CNY(250),
    });
    expect(rig.engine.quote(coupon.code, { amount: 350, currency: 'EUR' }, 'm1')).toMatchObject({
      code: ErrorCode.CouponCurrencyMismatch,
    });
    expect(rig.engine.coupon(coupon.code)!.state).toBe('issued');
    // The select-then-pay flow can redeem in its own transaction; asking again for the same order is idempotent.
    const redeem = () =>
      rig.db.transaction(() =>
        rig.engine.redeemInTx(loose, {
          orderId: 'cash-0001',
          machineId: 'm1',
          listPrice: CNY(350),
          paid: CNY(250),
        }),
      )();
    expect(redeem()).toEqual({ ok: true, couponId: coupon.couponId, discount: CNY(100) });
    expect(redeem()).toEqual({ ok: true, couponId: coupon.couponId, discount: CNY(100) });
    expect(eventsOf(rig.outbox, 'coupon.redeemed')).toHaveLength(1);
    const outside = await expectVendgateError(
      () => rig.engine.redeemInTx(loose, { orderId: 'x', machineId: 'm1', listPrice: CNY(1), paid: CNY(1) }),
      ErrorCode.StoreNotInTransaction,
    );
    expect(outside.message).toMatch(/inside the caller/);
    await expectVendgateError(
      () => rig.engine.releaseInTx('cash-0001', 'refund'),
      ErrorCode.StoreNotInTransaction,
    );
  });

  it('gives a coupon back once when the order it was used on is refunded, so another order can use it', () => {
    expect(ledger.receivePaid(paid('order-0001')).kind).toBe('accepted');
    const release = () => rig.db.transaction(() => rig.engine.releaseInTx('order-0001', 'jammed'))();
    expect(release()).toBe(true);
    expect(release()).toBe(false);
    expect(rig.engine.coupon(coupon.code)).toMatchObject({ state: 'issued', orderId: null, discount: null });
    expect(eventsOf(rig.outbox, 'coupon.released').map((e) => e.data)).toEqual([
      { couponId: coupon.couponId, campaignId: 'spring', orderId: 'order-0001', reason: 'jammed' },
    ]);
    expect(ledger.receivePaid(paid('order-0002')).kind).toBe('accepted');
  });

  it('computes percent discounts rounded down and capped', async () => {
    rig.engine.upsertCampaign(
      campaignSpec({
        id: 'pct',
        value: { kind: 'percent', percent: 15, maxDiscount: CNY(40) },
        perUserPerDay: 5,
      }),
    );
    const r = await rig.engine.claim({
      campaignId: 'pct',
      userId: 'bob',
      beaconId: BEACON,
      seenAt: rig.clock.now,
    });
    if (!r.ok) throw new Error(r.reason);
    expect(rig.engine.quote(r.coupon.code, CNY(199), 'm1')).toMatchObject({
      discount: CNY(29),
      price: CNY(170),
    });
    expect(rig.engine.quote(r.coupon.code, CNY(1000), 'm2')).toMatchObject({
      discount: CNY(40),
      price: CNY(960),
    });
  });

  it('refuses an order with a coupon when the ledger has no coupon engine', () => {
    const bare = new OrderLedger({
      db: rig.db,
      outbox: rig.outbox,
      now: () => rig.clock.now,
      catalog: catalogFrom([{ machineId: 'm1', slots: [{ slot: 1, price: CNY(350) }] }]),
    });
    expect(bare.receivePaid(paid('order-bare'))).toMatchObject({
      kind: 'refused',
      code: ErrorCode.CouponUnknown,
    });
  });
});
