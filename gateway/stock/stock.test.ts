import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../core/clock.ts';
import { ErrorCode } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import type { SensedStock } from '../../devices/vending/port.ts';
import { expectVendgateError } from '../../testing/errors.ts';
import { tempDir } from '../../testing/tmp.ts';
import { Planogram } from '../catalogue/planogram.ts';
import { ConditionBoard } from '../conditions/conditions.ts';
import { Outbox } from '../outbox/outbox.ts';
import { type Db, openStore } from '../store/db.ts';
import { StockKeeper } from './stock.ts';

describe('the stock keeper', () => {
  let tmp: ReturnType<typeof tempDir>;
  let db: Db;
  let outbox: Outbox;
  let conditions: ConditionBoard;
  let sensed: { readStock?: () => Promise<readonly SensedStock[]> };

  const open = (
    extra: {
      now?: () => number;
      senseAfterVendEveryMs?: number;
      vendEventEveryMs?: number;
      notify?: () => void;
    } = {},
  ) => {
    const catalogue = new Planogram({
      db,
      machines: [
        {
          machineId: 'm1',
          currency: 'CNY',
          slots: [{ slot: 1, capacity: 5, lowStockAt: 2 }, { slot: 2, capacity: 8 }, { slot: 3 }],
        },
        { machineId: 's1', currency: 'CNY', slots: [{ slot: 1, capacity: 9 }] },
      ],
    });
    return new StockKeeper({
      db,
      catalogue,
      conditions,
      outbox,
      machines: new Map([
        ['m1', {}],
        ['s1', sensed],
      ]),
      log: silentLogger(),
      ...extra,
    });
  };
  const events = (type: string) =>
    outbox
      .pendingAfter(0, 1000)
      .filter((r) => r.type === type)
      .map((r) => (JSON.parse(r.envelope) as { data: unknown }).data);
  const dispensed = (slot: number) => ({ kind: 'dispensed' as const, vendToken: 1, slot });
  const kinds = () => conditions.active().map((c) => `${c.kind}:${c.machineId}:${c.slot}`);

  beforeEach(() => {
    tmp = tempDir();
    db = openStore({ path: join(tmp.dir, 's.db') });
    outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 1000, telemetryTtlMs: 60_000 });
    conditions = new ConditionBoard(systemClock);
    sensed = {};
  });
  afterEach(() => {
    db.close();
    tmp.cleanup();
  });

  it('knows no level until a refill, and then counts a dispensed vend down by one', () => {
    const stock = open();
    stock.countOutcome('m1', dispensed(1), 'vend');
    expect(stock.level('m1', 1)).toBeNull();
    expect(events('stock.changed')).toEqual([]);
    stock.refill(stock.checkRefill('m1', 1, undefined));
    stock.countOutcome('m1', dispensed(1), 'vend');
    expect(stock.level('m1', 1)).toBe(4);
    expect(events('stock.changed').at(-1)).toEqual({
      machineId: 'm1',
      cause: 'vend',
      slots: [{ slot: 1, level: 4, capacity: 5, source: 'counted' }],
    });
  });

  it('counts a vend once when the transaction recording it fails and is run again', () => {
    const stock = open();
    stock.refill(stock.checkRefill('m1', 1, undefined));
    const failedOnce = db.transaction(() => {
      stock.countOutcome('m1', dispensed(1), 'vend');
      throw new Error('database or disk is full');
    });
    expect(() => failedOnce()).toThrow('disk is full');
    db.transaction(() => stock.countOutcome('m1', dispensed(1), 'vend'))();
    expect(stock.level('m1', 1)).toBe(4);
    expect(open().level('m1', 1)).toBe(4);
  });

  it('leaves a slot at 0 and says nothing when a vend of it is reported dispensed or empty', () => {
    const stock = open();
    stock.refill(stock.checkRefill('m1', 2, 0));
    const before = events('stock.changed').length;
    stock.countOutcome('m1', dispensed(2), 'vend');
    stock.countOutcome('m1', { kind: 'failed', vendToken: 4, slot: 2, reason: 'empty-slot' }, 'vend');
    expect(stock.level('m1', 2)).toBe(0);
    expect(events('stock.changed')).toHaveLength(before);
  });

  it('sets a slot to 0 when the controller reports it empty, whatever it counted', () => {
    const stock = open();
    stock.refill(stock.checkRefill('m1', 2, 6));
    stock.countOutcome('m1', { kind: 'failed', vendToken: 2, slot: 2, reason: 'empty-slot' }, 'vend');
    expect(stock.level('m1', 2)).toBe(0);
    stock.countOutcome('m1', { kind: 'failed', vendToken: 3, slot: 2, reason: 'jammed' }, 'vend');
    expect(stock.level('m1', 2)).toBe(0);
  });

  it('raises low stock at the mark, sold out at 0 instead, and clears both on a refill', () => {
    const stock = open();
    stock.refill(stock.checkRefill('m1', 1, 3));
    expect(kinds()).toEqual([]);
    stock.countOutcome('m1', dispensed(1), 'vend');
    expect(kinds()).toEqual(['low_stock:m1:1']);
    stock.countOutcome('m1', dispensed(1), 'vend');
    stock.countOutcome('m1', dispensed(1), 'vend');
    expect(kinds()).toEqual(['sold_out:m1:1']);
    stock.refill(stock.checkRefill('m1', undefined, 1));
    // The whole machine to 1: slot 1 (mark 2) and slot 2 (mark 1) are low, slot 3 has no capacity but takes a level.
    expect(kinds().sort()).toEqual(['low_stock:m1:1', 'low_stock:m1:2', 'low_stock:m1:3']);
  });

  it('refuses a refill beyond capacity, a fractional or negative level, an unknown slot or machine', async () => {
    const stock = open();
    const err = await expectVendgateError(
      () => stock.checkRefill('m1', 1, 6),
      ErrorCode.ManagementRefillInvalid,
    );
    expect(err.message).toBe('slot 1 of machine "m1" holds at most 5: a refill to 6 is more than it holds');
    await expectVendgateError(() => stock.checkRefill('m1', 1, 2.5), ErrorCode.ManagementRefillInvalid);
    await expectVendgateError(() => stock.checkRefill('m1', 1, -1), ErrorCode.ManagementRefillInvalid);
    await expectVendgateError(() => stock.checkRefill('m1', 3, undefined), ErrorCode.ManagementRefillInvalid);
    await expectVendgateError(
      () => stock.checkRefill('m1', undefined, undefined),
      ErrorCode.ManagementRefillInvalid,
    );
    await expectVendgateError(() => stock.checkRefill('m1', 4, 1), ErrorCode.ManagementSlotUnknown);
    await expectVendgateError(() => stock.checkRefill('m2', 1, 1), ErrorCode.ManagementMachineUnknown);
    expect(stock.levels('m1')?.map((l) => l.level)).toEqual([null, null, null]);
  });

  it('keeps the levels and raises their conditions again after a restart', () => {
    const first = open();
    first.refill(first.checkRefill('m1', 2, 0));
    conditions = new ConditionBoard(systemClock);
    const again = open();
    expect(again.level('m1', 2)).toBe(0);
    again.evaluateAll();
    expect(kinds()).toEqual(['sold_out:m1:2']);
  });

  it('takes the level a sensing machine reports, says so, and ignores readings that cannot be levels', async () => {
    sensed.readStock = async () => [
      { slot: 1, level: 7 },
      { slot: 2, level: 3 },
      { slot: 1, level: -1 },
    ];
    const stock = open();
    expect(stock.sensed('s1')).toBe(true);
    expect(stock.sensed('m1')).toBe(false);
    expect(await stock.sense('s1')).toBe(true);
    expect(stock.levels('s1')).toEqual([{ slot: 1, level: 7, capacity: 9, source: 'sensed' }]);
    expect(events('stock.changed').at(-1)).toMatchObject({ machineId: 's1', cause: 'sensed' });
    expect(await stock.sense('m1')).toBe(false);
  });

  it('keeps the counted level when a sensing machine does not answer', async () => {
    sensed.readStock = async () => {
      throw new Error('no answer');
    };
    const stock = open();
    stock.refill(stock.checkRefill('s1', 1, 4));
    expect(await stock.sense('s1')).toBe(false);
    expect(stock.level('s1', 1)).toBe(4);
  });

  it('prepares its statements once, not on every outcome it counts or reading it stores', async () => {
    sensed.readStock = async () => [{ slot: 1, level: 7 }];
    const stock = open();
    stock.refill(stock.checkRefill('m1', 1, undefined));
    const prepare = vi.spyOn(db, 'prepare');
    for (let i = 0; i < 3; i++) stock.countOutcome('m1', dispensed(1), 'vend');
    await stock.sense('s1');
    expect(prepare).not.toHaveBeenCalled();
    expect(stock.level('m1', 1)).toBe(2);
    prepare.mockRestore();
  });

  describe('reading after vends', () => {
    let clock: number;
    let reads: number;
    let level: number;
    let answer: (() => void) | undefined;
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'setImmediate'] });
      clock = 1_000_000;
      reads = 0;
      level = 9;
      answer = undefined;
    });
    afterEach(() => {
      vi.useRealTimers();
    });
    const keeper = (opts: { holdAnswer?: boolean } = {}) => {
      sensed.readStock = () => {
        reads++;
        const page = [{ slot: 1, level }];
        if (!opts.holdAnswer) return Promise.resolve(page);
        return new Promise((resolve) => {
          answer = () => resolve(page);
        });
      };
      return open({ now: () => clock, senseAfterVendEveryMs: 1000 });
    };
    const settle = async () => {
      for (let i = 0; i < 5; i++) await vi.advanceTimersByTimeAsync(0);
    };

    it('reads once right after a lone vend, and tells the caller what changed', async () => {
      const stock = keeper();
      const told: boolean[] = [];
      stock.senseAfterVend('s1', (changed) => told.push(changed));
      expect(reads).toBe(0); // not inside the outcome's transaction
      await settle();
      expect(reads).toBe(1);
      expect(told).toEqual([true]);
      expect(stock.levels('s1')).toEqual([{ slot: 1, level: 9, capacity: 9, source: 'sensed' }]);
    });

    it('shares one later reading among the vends of a burst instead of reading after each', async () => {
      const stock = keeper();
      stock.senseAfterVend('s1');
      await settle();
      expect(reads).toBe(1);
      for (let i = 0; i < 5; i++) {
        clock += 100;
        level--;
        stock.senseAfterVend('s1');
        await settle();
      }
      expect(reads).toBe(1);
      clock += 500;
      await vi.advanceTimersByTimeAsync(1000);
      await settle();
      expect(reads).toBe(2);
      expect(stock.level('s1', 1)).toBe(4);
      // The machine rested past the interval: the next vend is read at once again.
      clock += 5000;
      stock.senseAfterVend('s1');
      await settle();
      expect(reads).toBe(3);
    });

    it('reads once more after a vend that ended while a reading was on the link', async () => {
      const stock = keeper({ holdAnswer: true });
      stock.senseAfterVend('s1');
      await settle();
      expect(reads).toBe(1);
      level = 8;
      stock.senseAfterVend('s1');
      stock.senseAfterVend('s1');
      answer!();
      await settle();
      clock += 1000;
      await vi.advanceTimersByTimeAsync(1000);
      await settle();
      expect(reads).toBe(2);
      answer!();
      await settle();
      expect(stock.level('s1', 1)).toBe(8);
      await vi.advanceTimersByTimeAsync(5000);
      expect(reads).toBe(2);
    });

    it('never reads a machine that cannot sense its stock', async () => {
      const stock = keeper();
      stock.senseAfterVend('m1');
      await vi.advanceTimersByTimeAsync(5000);
      expect(reads).toBe(0);
    });
  });

  describe('the stock.changed of vends', () => {
    let clock: number;
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ['setTimeout'] });
      clock = 2_000_000;
    });
    afterEach(() => {
      vi.useRealTimers();
    });
    const vendEvents = () =>
      events('stock.changed').filter((e) => (e as { cause: string }).cause !== 'refill') as Array<{
        cause: string;
        commandId?: string;
        slots: Array<{ slot: number; level: number }>;
      }>;

    it('goes with a lone vend, and the vends of a burst share one with the levels once the interval has passed', async () => {
      let woken = 0;
      const stock = open({ now: () => clock, vendEventEveryMs: 1000, notify: () => woken++ });
      stock.refill(stock.checkRefill('m1', undefined, 5));
      stock.countOutcome('m1', dispensed(1), 'vend');
      expect(vendEvents()).toEqual([
        { machineId: 'm1', cause: 'vend', slots: [{ slot: 1, level: 4, capacity: 5, source: 'counted' }] },
      ]);
      clock += 100;
      stock.countOutcome('m1', dispensed(1), 'vend');
      clock += 100;
      stock.countOutcome('m1', dispensed(2), 'vend');
      // Counted at once, in the vends' own transactions; the event waits.
      expect([stock.level('m1', 1), stock.level('m1', 2)]).toEqual([3, 4]);
      expect(vendEvents()).toHaveLength(1);
      expect(woken).toBe(0);
      clock += 800;
      await vi.advanceTimersByTimeAsync(1000);
      expect(vendEvents()).toHaveLength(2);
      expect(vendEvents()[1]).toEqual({
        machineId: 'm1',
        cause: 'vend',
        slots: [
          { slot: 1, level: 3, capacity: 5, source: 'counted' },
          { slot: 2, level: 4, capacity: 8, source: 'counted' },
        ],
      });
      expect(woken).toBe(1);
      // Another machine is not held by this one's burst.
      const other = open({ now: () => clock, vendEventEveryMs: 1000 });
      other.refill(other.checkRefill('s1', 1, 9));
      other.countOutcome('s1', dispensed(1), 'vend');
      expect(vendEvents().at(-1)).toMatchObject({ machineId: 's1', slots: [{ slot: 1, level: 8 }] });
    });

    it('always goes with a test vend, which answers its command', () => {
      const stock = open({ now: () => clock, vendEventEveryMs: 1000 });
      stock.refill(stock.checkRefill('m1', 1, 5));
      stock.countOutcome('m1', dispensed(1), 'vend');
      stock.countOutcome('m1', dispensed(1), 'test_vend', 'cmd-7');
      expect(vendEvents().map((e) => [e.cause, e.commandId, e.slots[0]?.level])).toEqual([
        ['vend', undefined, 4],
        ['test_vend', 'cmd-7', 3],
      ]);
    });

    it('is not repeated for a slot a sensed reading reported meanwhile', async () => {
      sensed.readStock = async () => [{ slot: 1, level: 6 }];
      const stock = open({ now: () => clock, vendEventEveryMs: 1000 });
      stock.refill(stock.checkRefill('s1', 1, 9));
      stock.countOutcome('s1', dispensed(1), 'vend');
      clock += 100;
      stock.countOutcome('s1', dispensed(1), 'vend');
      await stock.sense('s1');
      clock += 900;
      await vi.advanceTimersByTimeAsync(1000);
      expect(vendEvents().map((e) => [e.cause, e.slots[0]?.level])).toEqual([
        ['vend', 8],
        ['sensed', 6],
      ]);
    });

    it('goes with every vend when the interval is 0', () => {
      const stock = open({ now: () => clock, vendEventEveryMs: 0 });
      stock.refill(stock.checkRefill('m1', 1, 5));
      for (let i = 0; i < 3; i++) stock.countOutcome('m1', dispensed(1), 'vend');
      expect(vendEvents().map((e) => e.slots[0]?.level)).toEqual([4, 3, 2]);
    });
  });
});
