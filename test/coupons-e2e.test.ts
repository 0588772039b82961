import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../core/errors.ts';
import { waitUntil } from '../testing/wait.ts';
import { TEST_BEACON as BEACON, oneYuanOffCoupons } from './support/coupons.ts';
import { useRig } from './support/rig.ts';

/**
 * Shake for a coupon, then redeem it on a remote-vend order, through the real
 * gateway: signed commands over MQTT, the coupon engine and ledger in one
 * SQLite file, the slot board on a pty.
 */
describe('a shake coupon redeemed on a paid order', () => {
  const h = useRig({ slotBoards: 1, config: { coupons: oneYuanOffCoupons('lunch') } });

  it('issues a coupon for a shake, lowers the next order by it once, and refuses a second use with a refund', async () => {
    await h.platform.sendCommand('coupon.claim', {
      userId: 'openid-alice',
      beaconId: BEACON,
      seenAt: Date.now(),
    });
    await waitUntil(() => h.platform.eventsOfType('coupon.issued').length === 1, {
      timeoutMs: 10_000,
      what: 'coupon issued',
    });
    const issued = h.platform.eventsOfType('coupon.issued')[0]!.data as { code: string; userRef: string };
    expect(issued.userRef).not.toContain('alice');

    const first = h.order('m1', 1, { price: { amount: 250, currency: 'CNY' }, couponCode: issued.code });
    await h.platform.placeOrder(first);
    await h.settled([first.orderId]);
    expect(h.gw.ledger.get(first.orderId)?.state).toBe('dispensed');
    expect(h.platform.eventsOfType('coupon.redeemed')).toHaveLength(1);

    const second = h.order('m1', 2, { price: { amount: 250, currency: 'CNY' }, couponCode: issued.code });
    await h.platform.placeOrder(second);
    await h.settled([second.orderId]);
    const refused = h.gw.ledger.get(second.orderId);
    expect(refused?.state).toBe('refund_requested');
    expect(refused?.outcomeCode).toBe(ErrorCode.CouponAlreadyRedeemed);
    expect(h.platform.eventsOfType('coupon.redeemed')).toHaveLength(1);
  });

  it('gives the coupon back when the order it was redeemed on is refunded, so the next purchase can use it', async () => {
    await h.platform.sendCommand('coupon.claim', {
      userId: 'openid-dave',
      beaconId: BEACON,
      seenAt: Date.now(),
    });
    await waitUntil(() => h.platform.eventsOfType('coupon.issued').length === 2, {
      timeoutMs: 10_000,
      what: 'second coupon issued',
    });
    const { code } = h.platform.eventsOfType('coupon.issued')[1]!.data as { code: string };

    h.boards[0]!.fault({ fault: 'jam', slot: 3, count: 1 });
    const jammed = h.order('m1', 3, { price: { amount: 250, currency: 'CNY' }, couponCode: code });
    await h.platform.placeOrder(jammed);
    await h.settled([jammed.orderId]);
    expect(h.gw.ledger.get(jammed.orderId)?.state).toBe('refund_requested');
    expect(
      h.platform.eventsOfType('coupon.released').map((e) => (e.data as { orderId: string }).orderId),
    ).toEqual([jammed.orderId]);

    const retry = h.order('m1', 4, { price: { amount: 250, currency: 'CNY' }, couponCode: code });
    await h.platform.placeOrder(retry);
    await h.settled([retry.orderId]);
    expect(h.gw.ledger.get(retry.orderId)?.state).toBe('dispensed');
  });

  it('refuses a second shake by the same user over the daily cap, and a claim naming a foreign beacon', async () => {
    await h.platform.sendCommand('coupon.claim', {
      userId: 'openid-alice',
      beaconId: BEACON,
      seenAt: Date.now(),
    });
    await h.platform.sendCommand('coupon.claim', {
      userId: 'openid-bob',
      beaconId: 'ibeacon:FDA50693-A4E2-4FB1-AFCF-C6EB07647825:1:1',
      seenAt: Date.now(),
    });
    await waitUntil(() => h.platform.eventsOfType('coupon.refused').length >= 2, {
      timeoutMs: 10_000,
      what: 'two refusals',
    });
    const codes = h.platform.eventsOfType('coupon.refused').map((e) => (e.data as { code: number }).code);
    expect(codes).toContain(ErrorCode.CouponUserCapReached);
    expect(codes).toContain(ErrorCode.CouponBeaconUnknown);
  });
});
