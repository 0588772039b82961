import { describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../contract/events.ts';
import { ErrorCode } from '../core/errors.ts';
import { silentLogger } from '../core/log.ts';
import { parseConfig } from '../gateway/config/load.ts';
import { startGateway } from '../main/gateway.ts';
import { waitUntil } from '../testing/wait.ts';
import { type Rig, type RigOptions, startRig as startAnyRig } from './support/rig.ts';

/**
 * Boards of protocol 2 sense no stock, so the levels here are the counted
 * ones (a board of protocol 3 reports its own: test/telemetry.test.ts).
 */
const startRig = (opts: RigOptions) => startAnyRig({ slotBoardSim: { protocolVersion: 2 }, ...opts });

/**
 * Remote management across every real layer: signed commands from the
 * simulated platform over the embedded broker, the catalogue and stock in
 * the SQLite store, vends on the slot-board simulator in its own process on
 * a pty.
 */

const ofType = (rig: Rig, type: string, commandId?: string): EventEnvelope[] =>
  rig.platform.events.filter(
    (e) =>
      e.type === type &&
      (commandId === undefined || (e.data as { commandId?: string }).commandId === commandId),
  );

/** Sends a signed management command and waits for the event that answers it. */
async function command(rig: Rig, type: string, data: unknown, answers: string[]): Promise<EventEnvelope> {
  const sent = await rig.platform.sendCommand(type, data);
  let answer: EventEnvelope | undefined;
  await waitUntil(
    () => {
      answer = answers.flatMap((t) => ofType(rig, t, sent.id))[0];
      return answer !== undefined;
    },
    { timeoutMs: 10_000, what: `an answer to ${type}` },
  );
  return answer!;
}

const CNY = (amount: number) => ({ amount, currency: 'CNY' });

describe('remote management by signed commands', () => {
  it('refuses an order at the old price after a price change and dispenses one at the new price', async () => {
    const rig = await startRig({ slotBoards: 1 });
    const changed = await command(
      rig,
      'catalogue.set',
      { machineId: 'm1', slots: [{ slot: 1, price: CNY(420), product: 'Cola 500 ml' }] },
      ['catalogue.changed', 'management.refused'],
    );
    expect(changed.type).toBe('catalogue.changed');
    const slot1 = (
      changed.data as { slots: Array<{ slot: number; price: unknown; product: string }> }
    ).slots.find((s) => s.slot === 1);
    expect(slot1).toMatchObject({ price: CNY(420), product: 'Cola 500 ml' });

    const old = rig.order('m1', 1);
    const fresh = rig.order('m1', 1, { price: CNY(420) });
    await rig.platform.placeOrder(old);
    await rig.platform.placeOrder(fresh);
    await rig.settled([old.orderId, fresh.orderId]);
    expect(rig.gw.ledger.get(old.orderId)).toMatchObject({
      state: 'refund_requested',
      outcomeCode: ErrorCode.OrderAmountInvalid,
    });
    expect(rig.gw.ledger.get(fresh.orderId)?.state).toBe('dispensed');
    expect(rig.boards[0]!.readLog().filter((r) => r.outcome === 'dispensed')).toHaveLength(1);
  });

  it('holds a planogram change sent during a vend until the vend has ended', async () => {
    const rig = await startRig({ slotBoards: 1, motorMs: 1500 });
    const order = rig.order('m1', 2);
    await rig.platform.placeOrder(order);
    await waitUntil(() => rig.gw.ledger.get(order.orderId)?.state === 'dispensing', {
      timeoutMs: 10_000,
      what: 'the vend under way',
    });
    const changed = await command(
      rig,
      'catalogue.set',
      { machineId: 'm1', slots: [{ slot: 2, product: 'Jasmine Tea', enabled: false }] },
      ['catalogue.changed', 'management.refused'],
    );
    expect(changed.type).toBe('catalogue.changed');
    expect(changed.data).toMatchObject({ waitedForVend: true });
    // The order's outcome was recorded (and queued upstream) before the change was applied.
    const vended = ofType(rig, 'vend.succeeded').find(
      (e) => (e.data as { orderId: string }).orderId === order.orderId,
    );
    expect(vended).toBeDefined();
    expect(vended!.seq).toBeLessThan(changed.seq);
    expect(rig.gw.catalogue.slot('m1', 2)).toMatchObject({ product: 'Jasmine Tea', enabled: false });

    // A disabled slot refuses orders, saying why.
    const refused = rig.order('m1', 2);
    await rig.platform.placeOrder(refused);
    await rig.settled([refused.orderId]);
    expect(rig.gw.ledger.get(refused.orderId)).toMatchObject({
      state: 'refund_requested',
      outcomeCode: ErrorCode.SlotDisabled,
    });
  });

  it('refuses bad prices, unknown slots and refills beyond capacity with the reason, changing nothing', async () => {
    const rig = await startRig({ slotBoards: 1, config: { management: { maxPrice: 100_000 } } });
    const before = rig.gw.catalogue.slots('m1');
    const cases: Array<{ data: unknown; code: number; reason: RegExp }> = [
      {
        data: { machineId: 'm1', slots: [{ slot: 1, price: CNY(-5) }] },
        code: 12003,
        reason: /-5 is negative/,
      },
      {
        data: { machineId: 'm1', slots: [{ slot: 1, price: CNY(3.5) }] },
        code: 12003,
        reason: /3\.5 is fractional/,
      },
      {
        data: { machineId: 'm1', slots: [{ slot: 1, price: CNY(5_000_000_000) }] },
        code: 12003,
        reason: /above the maximum of 100000/,
      },
      {
        data: { machineId: 'm1', slots: [{ slot: 1, price: CNY(200_000) }] },
        code: 12003,
        reason: /200000 is above the maximum/,
      },
      {
        data: { machineId: 'm1', slots: [{ slot: 1, price: { amount: 300, currency: 'EUR' } }] },
        code: 12003,
        reason: /in EUR, but machine "m1" sells in CNY/,
      },
      // One bad slot refuses the whole change: slot 1's good price is not applied either.
      {
        data: {
          machineId: 'm1',
          slots: [
            { slot: 1, price: CNY(300) },
            { slot: 9, price: CNY(300) },
          ],
        },
        code: 12002,
        reason: /no slot 9/,
      },
      {
        data: { machineId: 'm9', slots: [{ slot: 1, price: CNY(300) }] },
        code: 12001,
        reason: /no machine "m9"/,
      },
    ];
    for (const c of cases) {
      const answer = await command(rig, 'catalogue.set', c.data, ['catalogue.changed', 'management.refused']);
      expect(answer.type, JSON.stringify(c.data)).toBe('management.refused');
      expect(answer.data).toMatchObject({ code: c.code, commandType: 'catalogue.set', waitedForVend: false });
      expect((answer.data as { reason: string }).reason).toMatch(c.reason);
    }
    expect(rig.gw.catalogue.slots('m1')).toEqual(before);

    // A capacity, then a refill for more than it holds.
    await command(rig, 'catalogue.set', { machineId: 'm1', slots: [{ slot: 4, capacity: 8 }] }, [
      'catalogue.changed',
    ]);
    await command(rig, 'stock.refill', { machineId: 'm1', slot: 4, level: 5 }, ['stock.changed']);
    const over = await command(rig, 'stock.refill', { machineId: 'm1', slot: 4, level: 9 }, [
      'stock.changed',
      'management.refused',
    ]);
    expect(over.type).toBe('management.refused');
    expect(over.data).toMatchObject({ code: ErrorCode.ManagementRefillInvalid });
    expect((over.data as { reason: string }).reason).toMatch(
      /holds at most 8: a refill to 9 is more than it holds/,
    );
    expect(rig.gw.stock.level('m1', 4)).toBe(5);
  });

  it('raises low stock and sold out on the condition board as vends count down, and a refill clears them', async () => {
    const rig = await startRig({ slotBoards: 1 });
    const conditions = () =>
      rig.gw.conditions
        .active()
        .filter((c) => c.machineId === 'm1' && c.slot === 3)
        .map((c) => c.kind);
    await command(
      rig,
      'catalogue.set',
      { machineId: 'm1', slots: [{ slot: 3, capacity: 4, lowStockAt: 1 }] },
      ['catalogue.changed'],
    );
    const refilled = await command(rig, 'stock.refill', { machineId: 'm1', slot: 3, level: 2 }, [
      'stock.changed',
    ]);
    expect(refilled.data).toMatchObject({
      cause: 'refill',
      slots: [{ slot: 3, level: 2, capacity: 4, source: 'counted' }],
    });
    expect(conditions()).toEqual([]);

    const first = rig.order('m1', 3);
    await rig.platform.placeOrder(first);
    await rig.settled([first.orderId]);
    expect(rig.gw.stock.level('m1', 3)).toBe(1);
    expect(conditions()).toEqual(['low_stock']);

    const second = rig.order('m1', 3);
    await rig.platform.placeOrder(second);
    await rig.settled([second.orderId]);
    expect(rig.gw.stock.level('m1', 3)).toBe(0);
    expect(conditions()).toEqual(['sold_out']);

    // The whole machine, to each slot's capacity: only slots with a capacity can be filled without a level.
    const noCapacity = await command(rig, 'stock.refill', { machineId: 'm1' }, [
      'stock.changed',
      'management.refused',
    ]);
    expect(noCapacity.data).toMatchObject({ code: ErrorCode.ManagementRefillInvalid });
    await command(rig, 'stock.refill', { machineId: 'm1', slot: 3 }, ['stock.changed']);
    expect(rig.gw.stock.level('m1', 3)).toBe(4);
    expect(conditions()).toEqual([]);
  });

  it('runs a test vend with no order, counts it in stock and reports it', async () => {
    const rig = await startRig({ slotBoards: 1 });
    await command(rig, 'catalogue.set', { machineId: 'm1', slots: [{ slot: 5, capacity: 6 }] }, [
      'catalogue.changed',
    ]);
    await command(rig, 'stock.refill', { machineId: 'm1', slot: 5 }, ['stock.changed']);
    const vend = await command(rig, 'machine.test_vend', { machineId: 'm1', slot: 5 }, [
      'machine.test_vend',
      'management.refused',
    ]);
    expect(vend.data).toMatchObject({ machineId: 'm1', slot: 5, outcome: 'dispensed', waitedForVend: false });
    expect(rig.gw.stock.level('m1', 5)).toBe(5);
    expect(rig.boards[0]!.readLog().filter((r) => r.outcome === 'dispensed')).toHaveLength(1);
    expect(rig.gw.ledger.list()).toEqual([]);
  });

  it('keeps the catalogue and the stock levels across a gateway restart', async () => {
    const rig = await startRig({ slotBoards: 1 });
    await command(
      rig,
      'catalogue.set',
      {
        machineId: 'm1',
        slots: [{ slot: 6, price: CNY(990), product: 'Cold Brew', capacity: 12, lowStockAt: 3 }],
      },
      ['catalogue.changed'],
    );
    await command(rig, 'stock.refill', { machineId: 'm1', slot: 6, level: 3 }, ['stock.changed']);
    const before = { catalogue: rig.gw.catalogue.slots('m1'), stock: rig.gw.stock.levels('m1') };
    await waitUntil(() => rig.gw.outbox.stats().pending === 0, { what: 'events delivered' });
    await rig.gw.stop();

    const again = await startGateway({ config: parseConfig(rig.config), log: silentLogger() });
    try {
      expect(again.catalogue.slots('m1')).toEqual(before.catalogue);
      expect(again.stock.levels('m1')).toEqual(before.stock);
      // Conditions come back from the stored levels.
      expect(again.conditions.isActive({ kind: 'low_stock', machineId: 'm1', slot: 6 })).toBe(true);
      const m1 = again.machines.get('m1')!;
      await waitUntil(() => m1.online, { timeoutMs: 15_000, what: 'm1 online again' });
      // The ledger validates against the stored price.
      const r = again.ledger.receivePaid(rig.order('m1', 6, { price: CNY(990) }));
      expect(r.kind).toBe('accepted');
    } finally {
      await again.stop();
    }
  });
});
