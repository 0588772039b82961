/**
 * Pay first, then choose, end to end on real processes: the WeChat Pay and
 * Alipay sandboxes in their own processes, the platform (SQLite on disk, real fleet
 * link, real HTTP), and the gateway with an MDB machine and adapter
 * simulator in pay-first mode on a socat pty. The phone buys the machine's
 * credit, the sandbox phone pays it, the platform signs one `credit.paid`,
 * the customer chooses on the machine, and the platform refunds exactly the
 * unspent rest at the provider as a partial refund (a cancel: the whole
 * credit); the day reconciles to the fen.
 */
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../testing/index.ts';
import { usePlatform } from './platform-payments-harness.ts';
import { useRig } from './support/rig.ts';

const ITEMS = [
  { item: 2, price: 300 },
  { item: 7, price: 800 },
];

describe('pay first, then choose: the platform sells the credit and refunds exactly the unspent rest', () => {
  const h = useRig({
    platform: false,
    mdbMachines: [
      {
        vendMs: 50,
        items: ITEMS,
        machine: {
          cashlessMode: 'pay-first',
          creditIdleSec: 30,
          mdb: { scaleFactor: 1, decimalPlaces: 2, maxResponseTimeSec: 10 },
          slots: [
            { slot: 2, name: 'Water' },
            { slot: 7, name: 'Sandwich' },
          ],
        },
      },
    ],
  });
  const p = usePlatform(h, {
    name: 'pay-first-platform',
    payments: () => ({
      catalogue: [
        {
          gatewayId: h.gatewayId,
          machines: [
            {
              machineId: 'c1',
              name: 'Lobby c1',
              mode: 'pay-first',
              products: [
                { slot: 2, name: 'Water', price: 300 },
                { slot: 7, name: 'Sandwich', price: 800 },
              ],
            },
          ],
        },
      ],
    }),
  });

  const sim = () => h.mdb[0]!;
  const order = (no: string) => p.platform.store.orders.get(no);
  const stateIs = (no: string, state: string) => async () => (await order(no))?.state === state;
  const refundsAtSandbox = (no: string) =>
    p.sandboxes.wechat.events.filter((e) => e.event === 'refund-created' && e.outTradeNo === no);
  const ready = () =>
    sim().waitForEvent((e) => e.event === 'status' && e.state === 'ENABLED', {
      includePast: true,
      timeoutMs: 15_000,
    });
  const begunCount = () => sim().events.filter((e) => e.event === 'session-begun').length;
  const buyCredit = async (provider: 'wechat' | 'alipay' = 'wechat') => {
    const res = await fetch(`${p.platform.url}/m/${h.gatewayId}/c1/credits`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { outTradeNo: string; qrContent: string; price: unknown; orderPage: string };
  };
  const payAndBegin = async (o: { qrContent: string }) => {
    const before = begunCount();
    expect((await p.sandboxes.wechat.pay(o.qrContent, 2)).ok).toBe(true);
    await waitUntil(() => begunCount() > before, { timeoutMs: 20_000, what: 'session with funds begun' });
  };

  it('offers the credit of the dearest item on the phone page instead of a product list', async () => {
    const page = await (await fetch(`${p.platform.url}/m/${h.gatewayId}/c1`)).text();
    expect(page).toContain('Pay CNY 8.00 credit, then choose on the machine');
    expect(page).toContain(`action="/m/${h.gatewayId}/c1/credit"`);
    expect(page).not.toContain('Water');
    const refused = await fetch(`${p.platform.url}/m/${h.gatewayId}/c1/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ slot: 2, provider: 'wechat' }),
    });
    expect(refused.status).toBeGreaterThanOrEqual(400);
  });

  it('dispenses a cheaper choice and refunds exactly the rest, once, as a partial refund at WeChat Pay', async () => {
    await ready();
    const o = await buyCredit();
    expect(o.price).toEqual({ amount: 800, currency: 'CNY' });
    expect(await order(o.outTradeNo)).toMatchObject({ kind: 'credit', state: 'created', slot: 0 });
    await payAndBegin(o);
    expect(
      sim()
        .events.filter((e) => e.event === 'session-begun')
        .at(-1),
    ).toMatchObject({ funds: 800 });
    const success = sim().waitForEvent((e) => e.event === 'vend-success' && e.item === 2, {
      timeoutMs: 15_000,
    });
    sim().select(2);
    await success;
    await waitUntil(stateIs(o.outTradeNo, 'refunded'), { timeoutMs: 20_000, what: 'rest refunded' });
    expect(await order(o.outTradeNo)).toMatchObject({ slot: 2, vendedAmount: 300, amount: 800 });
    // The operator API says what kind of order it is and what of the credit was spent.
    const api = (await (await fetch(`${p.platform.url}/api/orders/${o.outTradeNo}`)).json()) as {
      order: { kind: string; vended: unknown; price: unknown };
    };
    expect(api.order).toMatchObject({
      kind: 'credit',
      vended: { amount: 300, currency: 'CNY' },
      price: { amount: 800, currency: 'CNY' },
    });
    // One signed credit.paid although the sandbox notified twice.
    const cmds = (await p.platform.store.commands.list({ gatewayId: h.gatewayId })).filter((c) =>
      c.payload.includes(o.outTradeNo),
    );
    expect(cmds.map((c) => c.type)).toEqual(['credit.paid']);
    const refunds = await p.platform.store.refunds.forOrder(o.outTradeNo);
    expect(refunds).toHaveLength(1);
    expect(refunds[0]).toMatchObject({ outRefundNo: `rc${o.outTradeNo}`, amount: 500, currency: 'CNY' });
    await waitUntil(() => refundsAtSandbox(o.outTradeNo).length > 0, {
      timeoutMs: 10_000,
      what: 'refund at the sandbox',
    });
    // A retry pass must not refund again.
    await p.platform.payments.refundsNow();
    expect(refundsAtSandbox(o.outTradeNo)).toEqual([expect.objectContaining({ refund: 500 })]);
    const pageHtml = await (await fetch(o.orderPage)).text();
    expect(pageHtml).toContain('The unspent CNY 5.00 is on its way back');
  });

  it('refunds the whole credit once when the customer cancels on the machine', async () => {
    await ready();
    const o = await buyCredit();
    await payAndBegin(o);
    sim().process!.command({ cmd: 'cancel' });
    await waitUntil(stateIs(o.outTradeNo, 'refunded'), { timeoutMs: 20_000, what: 'credit refunded' });
    expect(await order(o.outTradeNo)).toMatchObject({ vendedAmount: null });
    await waitUntil(() => refundsAtSandbox(o.outTradeNo).length > 0, {
      timeoutMs: 10_000,
      what: 'refund at the sandbox',
    });
    await p.platform.payments.refundsNow();
    expect(refundsAtSandbox(o.outTradeNo)).toEqual([expect.objectContaining({ refund: 800 })]);
  });

  it('refunds the rest of an Alipay credit as one partial refund (refund_amount below the total)', async () => {
    await ready();
    const o = await buyCredit('alipay');
    const before = begunCount();
    expect((await p.sandboxes.alipay.phone.pay(o.qrContent)).ok).toBe(true);
    await waitUntil(() => begunCount() > before, { timeoutMs: 20_000, what: 'session with funds begun' });
    const success = sim().waitForEvent((e) => e.event === 'vend-success' && e.item === 2, {
      timeoutMs: 15_000,
    });
    sim().select(2);
    await success;
    await waitUntil(stateIs(o.outTradeNo, 'refunded'), { timeoutMs: 20_000, what: 'rest refunded' });
    await p.platform.payments.refundsNow();
    const atSandbox = p.sandboxes.alipay.events.filter(
      (e) => e.event === 'refunded' && e.outTradeNo === o.outTradeNo,
    );
    expect(atSandbox).toEqual([
      expect.objectContaining({ outRequestNo: `rc${o.outTradeNo}`, refundAmount: '5.00' }),
    ]);
  });

  it("balances the day's reconciliation to the fen: paid = dispensed + refunded", async () => {
    const day = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);
    const res = await fetch(`${p.platform.url}/api/reconcile/${day}`, { method: 'POST' });
    expect(res.status).toBe(200);
    const report = (await res.json()) as {
      errors: unknown[];
      mismatches: unknown[];
      totals: Array<{
        provider: string;
        paid: number;
        dispensed: number;
        refunded: number;
        balanced: boolean;
      }>;
    };
    expect(report.errors).toEqual([]);
    expect(report.mismatches).toEqual([]);
    expect(report.totals.find((t) => t.provider === 'wechat')).toMatchObject({
      paid: 1600,
      dispensed: 300,
      refunded: 1300,
      balanced: true,
    });
    expect(report.totals.find((t) => t.provider === 'alipay')).toMatchObject({
      paid: 800,
      dispensed: 300,
      refunded: 500,
      balanced: true,
    });
  });
});
