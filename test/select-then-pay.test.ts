import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../core/errors.ts';
import { DisplaySim } from '../firmware-sim/display/sim.ts';
import { waitUntil } from '../testing/wait.ts';
import { TEST_BEACON as BEACON, oneYuanOffCoupons } from './support/coupons.ts';
import { type RigMdbMachine, useRig } from './support/rig.ts';

/**
 * Select first, then pay, on real transports: the MDB vending machine and
 * adapter simulator in its own process on a socat pty, the gateway as the
 * cashless device, the platform creating orders over MQTT request/response
 * and paying them with signed `order.paid` commands.
 */
describe('select-then-pay through an MDB cashless adapter', () => {
  const h = useRig({
    slotBoards: 1,
    mdbMachines: [
      {
        vendMs: 50,
        machine: {
          mdb: { scaleFactor: 1, decimalPlaces: 2, maxResponseTimeSec: 6 },
          display: {
            locale: 'en',
            staticQrUrl: 'https://pay.example.com/m/c1',
            name: 'Lobby',
            mqtt: { password: 'display-c1-secret' },
          },
          slots: [{ slot: 1, name: 'Cola' }],
        },
      },
    ],
    config: { coupons: oneYuanOffCoupons('cashless-promo') },
  });
  let sim: RigMdbMachine;
  let mqttDisplay: DisplaySim;
  let created = 0;
  /** Pay in the same breath as answering order.create (the payment can overtake the answer). */
  let payAtOnce = false;
  const orders = new Map<
    string,
    { machineId: string; slot: number; price: { amount: number; currency: string } }
  >();

  beforeAll(async () => {
    sim = h.mdb[0]!;
    h.platform.onRequest('order.create', (data) => {
      const d = data as { machineId: string; slot: number; price: { amount: number; currency: string } };
      const orderId = `cl-${process.pid}-${++created}`;
      orders.set(orderId, { machineId: d.machineId, slot: d.slot, price: d.price });
      if (payAtOnce) setImmediate(() => void pay(orderId));
      return {
        orderId,
        paymentUrl: `weixin://wxpay/bizpayurl?pr=${orderId}`,
        providers: ['wechat', 'alipay'],
        expiresAt: Date.now() + 7200_000,
      };
    });
    mqttDisplay = new DisplaySim({
      url: h.gw.brokerUrl,
      gatewayId: h.gw.config.gatewayId,
      displayId: 'c1',
      username: 'display-c1',
      password: 'display-c1-secret',
    });
    await mqttDisplay.start();
    // The machine takes selections once the gateway has enabled its reader.
    await sim.waitForEvent((e) => e.event === 'status' && (e.state === 'ENABLED' || e.state === 'IDLE'), {
      includePast: true,
      timeoutMs: 15_000,
    });
  });
  afterAll(async () => {
    await mqttDisplay?.stop();
  });

  const screen = () => h.gw.displays.current('c1')?.screen;
  /** Presses a button and waits for the payment QR; returns the order the platform created. */
  const selectAndAwaitQr = async (item: number) => {
    const before = created;
    sim.select(item);
    await waitUntil(() => created > before && screen()?.kind === 'awaiting-payment', {
      timeoutMs: 10_000,
      what: 'payment QR shown',
    });
    const s = screen();
    if (s?.kind !== 'awaiting-payment') throw new Error('no QR');
    return s;
  };
  const pay = (orderId: string) => {
    const o = orders.get(orderId)!;
    return h.platform.placeOrder({ orderId, ...o, provider: 'wechat', expiresAt: Date.now() + 7200_000 });
  };
  const eventsFor = (type: string, orderId: string) =>
    h.platform.eventsOfType(type).filter((e) => (e.data as { orderId: string }).orderId === orderId);

  it('shows the QR for the selected item, approves once paid, and reports the vend', async () => {
    const qr = await selectAndAwaitQr(1);
    expect(qr.price).toEqual({ amount: 310, currency: 'CNY' });
    expect(qr.paymentUrl).toBe(`weixin://wxpay/bizpayurl?pr=${qr.orderId}`);
    expect(qr.item.name).toBe('Cola');
    // The MQTT display device, logged in with its own credentials, shows the same QR.
    await waitUntil(() => mqttDisplay.current?.screen.kind === 'awaiting-payment', {
      timeoutMs: 5_000,
      what: 'MQTT display render',
    });
    expect(mqttDisplay.current?.screen).toMatchObject({
      kind: 'awaiting-payment',
      paymentUrl: qr.paymentUrl,
    });
    const success = sim.waitForEvent('vend-success', { timeoutMs: 10_000 });
    await pay(qr.orderId);
    await pay(qr.orderId); // a provider retry: answered, not acted on
    await success;
    await h.settled([qr.orderId]);
    expect(h.gw.ledger.get(qr.orderId)).toMatchObject({ state: 'dispensed', flow: 'cashless' });
    expect(eventsFor('vend.succeeded', qr.orderId)).toHaveLength(1);
    expect(eventsFor('order.state', qr.orderId)).toHaveLength(1);
    await waitUntil(() => screen()?.kind === 'done', { timeoutMs: 5_000, what: 'done screen' });
    expect(sim.readLog().filter((r) => r.outcome === 'vend-success')).toHaveLength(1);
  });

  it('approves a payment that overtakes the platform answer to order.create', async () => {
    payAtOnce = true;
    try {
      const before = created;
      const success = sim.waitForEvent('vend-success', { timeoutMs: 10_000 });
      sim.select(5);
      await success;
      const orderId = `cl-${process.pid}-${before + 1}`;
      await h.settled([orderId]);
      expect(h.gw.ledger.get(orderId)).toMatchObject({ state: 'dispensed', flow: 'cashless' });
      expect(eventsFor('vend.succeeded', orderId)).toHaveLength(1);
    } finally {
      payAtOnce = false;
    }
  });

  it('takes a shake coupon off the price once, and refunds a second payment with the same coupon', async () => {
    await h.platform.sendCommand('coupon.claim', {
      userId: 'openid-carol',
      beaconId: BEACON,
      seenAt: Date.now(),
    });
    await waitUntil(() => h.platform.eventsOfType('coupon.issued').length === 1, {
      timeoutMs: 10_000,
      what: 'coupon issued',
    });
    const { code } = h.platform.eventsOfType('coupon.issued')[0]!.data as { code: string };
    const discounted = (orderId: string) => {
      const o = orders.get(orderId)!;
      const price = { amount: o.price.amount - 100, currency: o.price.currency };
      return h.platform.placeOrder({
        orderId,
        ...o,
        price,
        couponCode: code,
        provider: 'wechat',
        expiresAt: Date.now() + 7200_000,
      });
    };

    const first = await selectAndAwaitQr(6);
    const success = sim.waitForEvent('vend-success', { timeoutMs: 10_000 });
    await discounted(first.orderId);
    await success;
    await h.settled([first.orderId]);
    expect(h.gw.ledger.get(first.orderId)).toMatchObject({
      state: 'dispensed',
      price: { amount: 260, currency: 'CNY' },
    });
    expect(sim.readLog().at(-1)).toMatchObject({ outcome: 'vend-success', item: 6, amount: '260' });

    const second = await selectAndAwaitQr(6);
    await discounted(second.orderId);
    await h.settled([second.orderId]);
    expect(h.gw.ledger.get(second.orderId)).toMatchObject({
      state: 'refund_requested',
      outcomeCode: ErrorCode.CouponAlreadyRedeemed,
    });
    expect(h.platform.eventsOfType('coupon.redeemed')).toHaveLength(1);
    await sim.waitForEvent((e) => e.event === 'denied' || e.event === 'cancelled', {
      includePast: true,
      timeoutMs: 10_000,
    });
  });

  it('refunds exactly once when the machine fails the vend after approval', async () => {
    sim.fault({ fault: 'vend-fail', count: 1 });
    const qr = await selectAndAwaitQr(2);
    await pay(qr.orderId);
    await h.settled([qr.orderId]);
    expect(h.gw.ledger.get(qr.orderId)?.state).toBe('refund_requested');
    expect(eventsFor('refund.requested', qr.orderId)).toHaveLength(1);
    await waitUntil(() => screen()?.kind === 'failed', { timeoutMs: 5_000, what: 'refund notice' });
  });

  it('refunds exactly once when the adapter reports an error instead of a vend result', async () => {
    sim.fault({ fault: 'vend-fail', count: 1, style: 'err' });
    const qr = await selectAndAwaitQr(3);
    await pay(qr.orderId);
    await h.settled([qr.orderId]);
    expect(h.gw.ledger.get(qr.orderId)?.state).toBe('refund_requested');
    expect(eventsFor('refund.requested', qr.orderId)).toHaveLength(1);
  });

  it('closes the order once when nobody pays in time, and refunds a payment that arrives after', async () => {
    const qr = await selectAndAwaitQr(4);
    await sim.waitForEvent((e) => e.event === 'cancelled' || e.event === 'denied', { timeoutMs: 15_000 });
    await waitUntil(() => eventsFor('order.close_requested', qr.orderId).length === 1, {
      timeoutMs: 5_000,
      what: 'order close',
    });
    expect(h.gw.ledger.get(qr.orderId)).toBeUndefined();

    await pay(qr.orderId);
    await h.settled([qr.orderId]);
    expect(h.gw.ledger.get(qr.orderId)).toMatchObject({
      state: 'refund_requested',
      outcomeCode: ErrorCode.CashlessSessionClosed,
    });
    expect(eventsFor('refund.requested', qr.orderId)).toHaveLength(1);
    expect(eventsFor('order.close_requested', qr.orderId)).toHaveLength(1);
    expect(sim.readLog().filter((r) => r.item === 4 && r.outcome === 'vend-success')).toHaveLength(0);
  });
});
