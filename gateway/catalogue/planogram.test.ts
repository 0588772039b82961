import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { expectVendgateError } from '../../testing/errors.ts';
import { tempDir } from '../../testing/tmp.ts';
import { type Db, openStore } from '../store/db.ts';
import { type MachineSeed, Planogram } from './planogram.ts';

const CNY = (amount: number) => ({ amount, currency: 'CNY' });
const SEEDS: MachineSeed[] = [
  {
    machineId: 'm1',
    currency: 'CNY',
    slots: [
      { slot: 1, product: 'Cola', price: 350, capacity: 10 },
      { slot: 2, product: 'Tea', price: 400 },
    ],
  },
  { machineId: 'c1', currency: 'CNY', anySlot: true, slots: [{ slot: 1, product: 'Chips' }] },
];

describe('the planogram', () => {
  let tmp: ReturnType<typeof tempDir>;
  let db: Db;
  const open = (maxPrice?: number) =>
    new Planogram({ db, machines: SEEDS, ...(maxPrice === undefined ? {} : { maxPrice }) });

  beforeEach(() => {
    tmp = tempDir();
    db = openStore({ path: join(tmp.dir, 'p.db') });
  });
  afterEach(() => {
    db.close();
    tmp.cleanup();
  });

  it('is seeded from the config, with a low-stock mark of a fifth of the capacity or 2', () => {
    expect(open().slots('m1')).toEqual([
      { slot: 1, product: 'Cola', price: CNY(350), enabled: true, capacity: 10, lowStockAt: 2 },
      { slot: 2, product: 'Tea', price: CNY(400), enabled: true, capacity: null, lowStockAt: 2 },
    ]);
  });

  it('applies a change to every slot it names, and the next planogram on the same store still has it', () => {
    const p = open();
    p.apply('m1', [
      { slot: 1, price: CNY(420) },
      { slot: 2, product: 'Green Tea', enabled: false, capacity: 6 },
    ]);
    const reopened = open();
    expect(reopened.slots('m1')).toEqual([
      { slot: 1, product: 'Cola', price: CNY(420), enabled: true, capacity: 10, lowStockAt: 2 },
      { slot: 2, product: 'Green Tea', price: CNY(400), enabled: false, capacity: 6, lowStockAt: 1 },
    ]);
  });

  it('changes nothing when one slot of a change is bad', async () => {
    const p = open();
    await expectVendgateError(
      () =>
        p.apply('m1', [
          { slot: 1, price: CNY(1) },
          { slot: 7, price: CNY(1) },
        ]),
      ErrorCode.ManagementSlotUnknown,
    );
    expect(p.slot('m1', 1)?.price).toEqual(CNY(350));
    expect(open().slot('m1', 1)?.price).toEqual(CNY(350));
  });

  it('refuses an empty change, a slot named twice and a low-stock mark not below the capacity', async () => {
    const p = open();
    const attempt = (changes: Parameters<Planogram['apply']>[1]) => () => p.apply('m1', changes);
    await expectVendgateError(attempt([]), ErrorCode.ManagementChangeInvalid);
    await expectVendgateError(attempt([{ slot: 1 }, { slot: 1 }]), ErrorCode.ManagementChangeInvalid);
    await expectVendgateError(attempt([{ slot: 1, lowStockAt: 10 }]), ErrorCode.ManagementChangeInvalid);
    await expectVendgateError(attempt([{ slot: 1, product: '  ' }]), ErrorCode.ManagementChangeInvalid);
  });

  it('refuses to manage the catalogue of a cashless machine, which names its own items', async () => {
    await expectVendgateError(
      () => open().apply('c1', [{ slot: 1, price: CNY(1) }]),
      ErrorCode.ManagementUnsupported,
    );
  });

  it('shows the ledger a disabled slot as disabled, and any item of a cashless machine as valid', () => {
    const p = open();
    p.apply('m1', [{ slot: 2, enabled: false }]);
    expect(p.machine('m1')?.slot(1)).toEqual({ price: CNY(350) });
    expect(p.machine('m1')?.slot(2)).toEqual({ price: CNY(400), disabled: true });
    expect(p.machine('m1')?.slot(3)).toBeUndefined();
    expect(p.machine('c1')?.slot(200)).toEqual({});
    expect(p.machine('nope')).toBeUndefined();
  });

  it('takes a price exactly when it is whole minor units from 0 to the maximum, in the machine currency', () => {
    const max = 100_000;
    const p = open(max);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: -1e12, max: 1e12 }),
          fc.double({ noNaN: false }),
          fc.integer({ min: 0, max }),
        ),
        fc.constantFrom('CNY', 'EUR'),
        (amount, currency) => {
          const ok = Number.isInteger(amount) && amount >= 0 && amount <= max && currency === 'CNY';
          let taken: boolean;
          try {
            p.check('m1', [{ slot: 1, price: { amount, currency } }]);
            taken = true;
          } catch (err) {
            expect((err as { code: number }).code).toBe(ErrorCode.ManagementPriceInvalid);
            taken = false;
          }
          expect(taken).toBe(ok);
        },
      ),
    );
  });

  it('never takes a price above 10^9 minor units, whatever maximum it is given', async () => {
    await expectVendgateError(
      () => open(Number.MAX_SAFE_INTEGER).check('m1', [{ slot: 1, price: CNY(1e9 + 1) }]),
      ErrorCode.ManagementPriceInvalid,
    );
  });

  it('tells its listeners the whole machine catalogue after a change', () => {
    const p = open();
    const seen: unknown[] = [];
    p.onChange((machineId, slots) => seen.push({ machineId, n: slots.length }));
    p.apply('m1', [{ slot: 1, product: 'Cola Zero' }]);
    expect(seen).toEqual([{ machineId: 'm1', n: 2 }]);
  });
});
