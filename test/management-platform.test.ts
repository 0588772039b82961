/**
 * A price and product change made by the operator's platform, end to end:
 * the real platform (SQLite store, fleet link, HTTP) signs `catalogue.set`,
 * a real gateway applies it and reports `catalogue.changed`, the phone page
 * shows the new product and price, and a payment at the new price (WeChat
 * Pay sandbox in its own process) dispenses on the slot-board simulator.
 */
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../testing/index.ts';
import { usePlatform } from './platform-payments-harness.ts';
import { useRig } from './support/rig.ts';

describe("the platform's catalogue follows the gateway's", () => {
  const h = useRig({ slotBoards: 1, platform: false });
  const p = usePlatform(h, { name: 'mgmt-platform' });

  it('shows a new price and product on the phone page and dispenses an order paid at it', async () => {
    const page = () => fetch(`${p.platform.url}/m/${h.gatewayId}/m1`).then((r) => r.text());
    expect(await page()).toContain('Cola 330 ml');
    await p.platform.fleet.sendCommand(h.gatewayId, 'catalogue.set', {
      machineId: 'm1',
      slots: [
        { slot: 1, product: 'Cola 500 ml', price: { amount: 420, currency: 'CNY' } },
        { slot: 6, enabled: false },
      ],
    });
    await waitUntil(async () => (await page()).includes('Cola 500 ml'), {
      timeoutMs: 15_000,
      what: 'the phone page showing the new product',
    });
    const html = await page();
    expect(html).toContain('CNY 4.20');
    expect(html).not.toContain('Cola 330 ml');
    // The disabled slot is no longer sold.
    expect(html).not.toContain('Coffee');

    const res = await fetch(`${p.platform.url}/m/${h.gatewayId}/m1/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ slot: 1, provider: 'wechat' }),
    });
    expect(res.status).toBe(200);
    const o = (await res.json()) as { outTradeNo: string; qrContent: string; price: unknown };
    expect(o.price).toEqual({ amount: 420, currency: 'CNY' });
    expect((await p.sandboxes.wechat.pay(o.qrContent, 1)).ok).toBe(true);
    await waitUntil(async () => (await p.platform.store.orders.get(o.outTradeNo))?.state === 'dispensed', {
      timeoutMs: 20_000,
      what: 'the order dispensed',
    });
    expect(h.gw.ledger.get(o.outTradeNo)).toMatchObject({ state: 'dispensed', price: { amount: 420 } });
  });
});
