/**
 * The whole payments chain on real processes: the WeChat Pay and Alipay
 * sandboxes in their own processes, the platform (real SQLite store on disk,
 * real fleet link, real HTTP) and a real gateway with a slot-board machine
 * and an MDB machine on socat ptys, over the gateway's MQTT broker. A phone
 * opens the machine page, buys, pays at the sandbox; the notification
 * becomes one signed order.paid and the machine dispenses; a jam becomes one
 * refund at the provider; select-then-pay gets the provider's code_url.
 */
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../testing/index.ts';
import { usePlatform } from './platform-payments-harness.ts';
import { useRig } from './support/rig.ts';

describe('the platform payments chain against the sandboxes and a real gateway', () => {
  const h = useRig({
    slotBoards: 1,
    platform: false,
    mdbMachines: [
      { vendMs: 50, machine: { mdb: { scaleFactor: 1, decimalPlaces: 2, maxResponseTimeSec: 6 } } },
    ],
  });
  const p = usePlatform(h, { name: 'platform-e2e' });

  const order = (no: string) => p.platform.store.orders.get(no);
  const stateIs = (no: string, state: string) => async () => (await order(no))?.state === state;
  const buy = async (slot: number, provider: 'wechat' | 'alipay') => {
    const res = await fetch(`${p.platform.url}/m/${h.gatewayId}/m1/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ slot, provider }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { outTradeNo: string; qrContent: string; price: unknown; orderPage: string };
  };

  it('lists the machine products on the phone page, by provider for WeChat and Alipay browsers', async () => {
    const page = await (await fetch(`${p.platform.url}/m/${h.gatewayId}/m1`)).text();
    expect(page).toContain('Cola 330 ml');
    expect(page).toContain('CNY 3.50');
    expect(page).toContain('value="wechat"');
    expect(page).toContain('value="alipay"');
    const inWechat = await (
      await fetch(`${p.platform.url}/m/${h.gatewayId}/m1`, {
        headers: { 'user-agent': 'Mozilla/5.0 (iPhone) MicroMessenger/8.0.47 NetType/WIFI' },
      })
    ).text();
    expect(inWechat).toContain('value="wechat"');
    expect(inWechat).not.toContain('value="alipay"');
    const inAlipay = await (
      await fetch(`${p.platform.url}/m/${h.gatewayId}/m1`, {
        headers: { 'user-agent': 'Mozilla/5.0 (Linux; Android 14) AlipayClient/10.5.36' },
      })
    ).text();
    expect(inAlipay).toContain('value="alipay"');
    expect(inAlipay).not.toContain('value="wechat"');
    expect((await fetch(`${p.platform.url}/m/${h.gatewayId}/nope`)).status).toBe(404);
  });

  it('turns a WeChat payment, notified twice, into one signed order.paid and one dispense', async () => {
    const o = await buy(2, 'wechat');
    expect(o.qrContent).toMatch(/^weixin:\/\/wxpay\/bizpayurl\?pr=/);
    expect(o.price).toEqual({ amount: 350, currency: 'CNY' });
    expect((await order(o.outTradeNo))?.state).toBe('created');
    const paid = await p.sandboxes.wechat.pay(o.qrContent, 2);
    expect(paid.ok).toBe(true);
    await waitUntil(stateIs(o.outTradeNo, 'dispensed'), { timeoutMs: 20_000, what: 'dispensed' });
    const row = await order(o.outTradeNo);
    expect(row).toMatchObject({ transactionId: paid.transactionId, provider: 'wechat' });
    expect(row?.payerHash).toMatch(/^[0-9a-f]{64}$/);
    const cmds = (await p.platform.store.commands.list({ gatewayId: h.gatewayId })).filter((c) =>
      c.payload.includes(o.outTradeNo),
    );
    expect(cmds).toHaveLength(1);
    expect(h.gw.ledger.get(o.outTradeNo)?.state).toBe('dispensed');
    expect(h.boards[0]!.readLog().filter((r) => r.outcome === 'dispensed')).toHaveLength(1);
    const deliveries = await p.sandboxes.wechat.deliveries();
    expect(deliveries.filter((d) => JSON.stringify(d).includes(o.outTradeNo)).length).toBeGreaterThanOrEqual(
      2,
    );
    const pageHtml = await (await fetch(o.orderPage)).text();
    expect(pageHtml).toContain('data-state="dispensed"');
  });

  it('dispenses an Alipay payment once, paid twice by the phone', async () => {
    const o = await buy(3, 'alipay');
    const r = await p.sandboxes.alipay.phone.payTwice(o.qrContent);
    expect(r.ok).toBe(true);
    await waitUntil(stateIs(o.outTradeNo, 'dispensed'), { timeoutMs: 20_000, what: 'alipay dispensed' });
    expect(h.gw.ledger.get(o.outTradeNo)?.state).toBe('dispensed');
  });

  it('refunds a jammed vend once at the provider with the order refund number', async () => {
    h.boards[0]!.fault({ fault: 'jam', slot: 4, count: 1 });
    const o = await buy(4, 'wechat');
    await p.sandboxes.wechat.pay(o.qrContent);
    await waitUntil(stateIs(o.outTradeNo, 'refunded'), { timeoutMs: 20_000, what: 'refunded' });
    const refunds = await p.platform.store.refunds.forOrder(o.outTradeNo);
    expect(refunds).toHaveLength(1);
    expect(refunds[0]).toMatchObject({ outRefundNo: `rf${o.outTradeNo}`, amount: 350, currency: 'CNY' });
    expect(['accepted', 'succeeded']).toContain(refunds[0]!.state);
    const api = (await (await fetch(`${p.platform.url}/api/orders/${o.outTradeNo}`)).json()) as {
      order: { state: string };
      refunds: unknown[];
    };
    expect(api.order.state).toBe('refunded');
    expect(api.refunds).toHaveLength(1);
  });

  it('answers order.create for a select-then-pay session with the provider code_url and dispenses once paid', async () => {
    const sim = h.mdb[0]!;
    await sim.waitForEvent((e) => e.event === 'status' && (e.state === 'ENABLED' || e.state === 'IDLE'), {
      includePast: true,
      timeoutMs: 15_000,
    });
    sim.select(1);
    await waitUntil(() => h.gw.displays.current('c1')?.screen.kind === 'awaiting-payment', {
      timeoutMs: 15_000,
      what: 'payment QR on the display',
    });
    const screen = h.gw.displays.current('c1')?.screen;
    if (screen?.kind !== 'awaiting-payment') throw new Error('no QR');
    expect(screen.paymentUrl).toMatch(/^weixin:\/\/wxpay\/bizpayurl\?pr=/);
    const stored = await order(screen.orderId);
    expect(stored).toMatchObject({ state: 'created', machineId: 'c1', sessionId: expect.any(String) });
    const success = sim.waitForEvent('vend-success', { timeoutMs: 15_000 });
    await p.sandboxes.wechat.pay(screen.paymentUrl);
    await success;
    await waitUntil(stateIs(screen.orderId, 'dispensed'), { timeoutMs: 15_000, what: 'cashless dispensed' });
  });

  it('shows the fleet, the orders and the refunds on the operator API and page', async () => {
    const fleet = (await (await fetch(`${p.platform.url}/api/fleet`)).json()) as {
      gateways: Array<{ gatewayId: string; online: boolean }>;
    };
    expect(fleet.gateways.find((g) => g.gatewayId === h.gatewayId)?.online).toBe(true);
    const orders = (await (await fetch(`${p.platform.url}/api/orders?state=dispensed`)).json()) as {
      count: number;
    };
    expect(orders.count).toBeGreaterThanOrEqual(3);
    const refunds = (await (await fetch(`${p.platform.url}/api/refunds`)).json()) as { refunds: unknown[] };
    expect(refunds.refunds).toHaveLength(1);
    const ops = await (await fetch(`${p.platform.url}/ops`)).text();
    expect(ops).toContain(h.gatewayId);
    expect(ops).toContain('online');
  });

  it('reconciles the day with both providers balanced to the fen and no mismatch, as JSON and as a page', async () => {
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
    const wechat = report.totals.find((t) => t.provider === 'wechat');
    expect(wechat).toMatchObject({ balanced: true, refunded: 350 });
    expect(wechat!.paid).toBe(wechat!.dispensed + wechat!.refunded);
    expect(report.totals.find((t) => t.provider === 'alipay')).toMatchObject({
      paid: 350,
      dispensed: 350,
      balanced: true,
    });
    const saved = (await (await fetch(`${p.platform.url}/api/reconcile/${day}`)).json()) as { day: string };
    expect(saved.day).toBe(day);
    const html = await (await fetch(`${p.platform.url}/ops/reconcile/${day}`)).text();
    expect(html).toContain('Mismatches (0)');
  });
});
