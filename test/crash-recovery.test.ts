import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PaidOrder } from '../firmware-sim/platform/platform.ts';
import { openStore } from '../gateway/store/db.ts';
import { waitUntil } from '../testing/wait.ts';
import { finalAtPlatform, useRig } from './support/rig.ts';

/**
 * The gateway runs as its own process and is killed with SIGKILL at random
 * moments during a burst of paid orders, then restarted. Mosquitto keeps the
 * gateway's persistent session meanwhile, and the simulated platform retries
 * orders it has no answer for, as payment providers do.
 */
describe('a gateway killed during a burst of orders', () => {
  const h = useRig({ gateway: 'process', broker: 'mosquitto', slotBoards: 2, motorMs: 40 });

  it('ends every paid order dispensed or refund-requested exactly once, with no double dispense', async () => {
    const platform = h.platform;
    const gateway = h.gatewayProcess;
    const orders: PaidOrder[] = Array.from({ length: 120 }, (_, i) => ({
      orderId: `crash-order-${i}`,
      machineId: i % 2 ? 'm1' : 'm2',
      slot: 1 + (i % 6),
      price: { amount: 350, currency: 'CNY' },
      provider: i % 3 ? 'wechat' : 'alipay',
      expiresAt: Date.now() + 3600_000,
    }));
    const settled = (id: string) => finalAtPlatform(platform, id);

    // Burst: 120 orders over ~3 s, each sometimes twice, while the gateway is killed 4 times.
    let killed = 0;
    const killer = (async () => {
      for (let k = 0; k < 4; k++) {
        await sleep(300 + Math.floor(Math.random() * 700));
        gateway.kill('SIGKILL');
        killed++;
        await sleep(200 + Math.floor(Math.random() * 300));
        gateway.start();
      }
    })();
    for (const [i, o] of orders.entries()) {
      await platform.placeOrder(o);
      if (i % 4 === 0) await platform.placeOrder(o);
      await sleep(25);
    }
    await killer;
    expect(killed).toBe(4);

    // Providers retry notifications until they get an answer.
    const deadline = Date.now() + 90_000;
    while (!orders.every((o) => settled(o.orderId))) {
      if (Date.now() > deadline) break;
      await sleep(2000);
      for (const o of orders) if (!settled(o.orderId)) await platform.placeOrder(o);
    }
    await waitUntil(() => orders.every((o) => settled(o.orderId)), {
      timeoutMs: 5_000,
      what: 'every order settled at the platform',
    });
    await gateway.stop();

    // Exactly one final outcome per order at the platform, never both.
    for (const o of orders) {
      const finals = platform.events.filter(
        (e) =>
          (e.type === 'vend.succeeded' || e.type === 'refund.requested') &&
          (e.data as { orderId: string }).orderId === o.orderId,
      );
      expect(finals, o.orderId).toHaveLength(1);
    }
    expect(platform.seqGaps()).toEqual([]);

    // The ledger on disk and the controllers' own logs agree: one physical dispense per dispensed order.
    const db = openStore({ path: join(h.dir, 'vendgate.db') });
    const rows = db.prepare('SELECT order_id, state, vend_token FROM orders').all() as {
      order_id: string;
      state: string;
      vend_token: number | null;
    }[];
    db.close();
    expect(rows).toHaveLength(orders.length);
    for (const r of rows) expect(['dispensed', 'refund_requested']).toContain(r.state);
    const physical = new Map<number, number>();
    for (const board of h.boards) {
      for (const rec of board.readLog()) {
        if (rec.outcome === 'dispensed') physical.set(rec.vendToken, (physical.get(rec.vendToken) ?? 0) + 1);
      }
    }
    for (const r of rows) {
      const n = r.vend_token === null ? 0 : (physical.get(r.vend_token) ?? 0);
      expect(n, `${r.order_id} physical dispenses`).toBe(r.state === 'dispensed' ? 1 : 0);
    }
    expect([...physical.values()].every((n) => n === 1)).toBe(true);
  }, 180_000);
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
