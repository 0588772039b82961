import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventData } from '../../contract/events.ts';
import { tempDir } from '../../testing/tmp.ts';
import type { Store } from '../store/port.ts';
import { openStore } from '../store/store.ts';
import { Catalogue } from './catalogue.ts';

const CONFIG = {
  catalogue: [
    {
      gatewayId: 'gw1',
      machines: [
        {
          machineId: 'm1',
          name: 'Lobby',
          currency: 'CNY',
          products: [
            { slot: 1, name: 'Cola', price: 350 },
            { slot: 2, name: 'Tea', price: 400 },
          ],
        },
      ],
    },
  ],
};

const changed = (slots: EventData<'catalogue.changed'>['slots']): EventData<'catalogue.changed'> => ({
  machineId: 'm1',
  by: 'platform',
  waitedForVend: false,
  slots,
});
const slot = (n: number, product: string, amount: number | null, enabled = true) => ({
  slot: n,
  product,
  price: amount === null ? null : { amount, currency: 'CNY' },
  enabled,
  capacity: null,
  lowStockAt: 2,
});

describe("the platform's catalogue", () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: Store;

  beforeEach(async () => {
    tmp = tempDir();
    store = await openStore({
      backend: 'sqlite',
      sqlitePath: join(tmp.dir, 'p.db'),
      payerHashKey: Buffer.alloc(32, 7),
    });
  });
  afterEach(async () => {
    await store.close();
    tmp.cleanup();
  });

  it('sells what the gateway last reported: enabled slots with a price, under their new names', () => {
    const c = new Catalogue(CONFIG);
    expect(
      c.apply('gw1', 5, changed([slot(1, 'Cola Zero', 380), slot(2, 'Tea', 400, false), slot(3, 'X', null)])),
    ).toBe(true);
    expect(c.machine('gw1', 'm1')?.products).toEqual([
      { slot: 1, name: 'Cola Zero', price: { amount: 380, currency: 'CNY' } },
    ]);
    expect(c.product('gw1', 'm1', 2)).toBeUndefined();
  });

  it('ignores an older catalogue arriving after a newer one, and machines it does not sell', () => {
    const c = new Catalogue(CONFIG);
    c.apply('gw1', 9, changed([slot(1, 'New', 500)]));
    expect(c.apply('gw1', 8, changed([slot(1, 'Old', 100)]))).toBe(false);
    expect(c.product('gw1', 'm1', 1)?.name).toBe('New');
    expect(c.apply('gw2', 10, changed([slot(1, 'Other', 1)]))).toBe(false);
  });

  it('replays the stored catalogue changes on start, the latest winning', async () => {
    const rows = [
      { seq: 3, data: changed([slot(1, 'First', 300)]) },
      { seq: 4, data: { machineId: 'm1', slots: 'broken' } },
      { seq: 7, data: changed([slot(1, 'Second', 360), slot(2, 'Tea', 410)]) },
    ];
    for (const r of rows) {
      await store.events.insert({
        gatewayId: 'gw1',
        seq: r.seq,
        eventId: `00000000-0000-4000-8000-00000000000${r.seq}`,
        type: 'catalogue.changed',
        ts: 1,
        data: r.data,
        problem: r.seq === 4 ? 'data breaks the schema' : null,
        receivedAt: 1,
      });
    }
    const c = new Catalogue(CONFIG);
    expect(await c.restore(store.events)).toBe(2);
    expect(c.machine('gw1', 'm1')?.products.map((p) => [p.name, p.price.amount])).toEqual([
      ['Second', 360],
      ['Tea', 410],
    ]);
  });
});
