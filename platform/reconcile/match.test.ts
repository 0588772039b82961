import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BillRow, TradeBill } from '../providers/port.ts';
import type { OrderRow, PlatformOrderState } from '../store/port.ts';
import { beijingDay, beijingDayBounds, reconcile } from './match.ts';

const DAY = '2026-12-01';
const { from, to } = beijingDayBounds(DAY);

function orderRow(no: string, state: PlatformOrderState, over: Partial<OrderRow> = {}): OrderRow {
  return {
    outTradeNo: no,
    kind: 'item',
    gatewayId: 'gw',
    machineId: 'm1',
    slot: 1,
    amount: 350,
    currency: 'CNY',
    provider: 'wechat',
    state,
    vendedAmount: null,
    sessionId: null,
    couponCode: null,
    transactionId: `tx-${no}`,
    payerAmount: null,
    payerCurrency: null,
    exchangeRate: null,
    payerHash: null,
    reason: null,
    expiresAt: from + 3600_000,
    createdAt: from + 1000,
    updatedAt: from + 2000,
    paidAt: from + 1500,
    ...over,
  };
}
const pay = (no: string, amount = 350, over: Partial<BillRow> = {}): BillRow => ({
  outTradeNo: no,
  transactionId: `tx-${no}`,
  kind: 'payment',
  amount: { amount, currency: 'CNY' },
  at: from + 1500,
  ...over,
});
const refund = (no: string, amount = 350, n = 1): BillRow => ({
  ...pay(no, amount),
  kind: 'refund',
  outRefundNo: `rf${no}-${n}`,
});
const run = (rows: BillRow[], orders: OrderRow[]) =>
  reconcile({
    day: DAY,
    bills: [{ provider: 'wechat', day: DAY, rows } satisfies TradeBill],
    orders: new Map(orders.map((o) => [o.outTradeNo, o])),
    from,
    to,
    generatedAt: to,
  });

describe('daily reconciliation', () => {
  it('balances a day of dispensed and refunded orders to the fen with no mismatch', () => {
    const r = run(
      [pay('a'), pay('b', 500), refund('b', 500), pay('c')],
      [orderRow('a', 'dispensed'), orderRow('b', 'refunded', { amount: 500 }), orderRow('c', 'dispensed')],
    );
    expect(r.mismatches).toEqual([]);
    expect(r.totals).toEqual([
      expect.objectContaining({
        provider: 'wechat',
        currency: 'CNY',
        paid: 1200,
        dispensed: 700,
        refunded: 500,
        unsettled: 0,
        balanced: true,
      }),
    ]);
  });

  it('lists a payment neither dispensed nor refunded, and the day does not balance', () => {
    const r = run([pay('a')], [orderRow('a', 'paid')]);
    expect(r.mismatches).toEqual([
      expect.objectContaining({ kind: 'paid-not-settled', outTradeNo: 'a', amount: 350 }),
    ]);
    expect(r.totals[0]).toMatchObject({ unsettled: 350, balanced: false });
  });

  it('lists a refund made twice', () => {
    const r = run([pay('a'), refund('a', 350, 1), refund('a', 350, 2)], [orderRow('a', 'refunded')]);
    expect(r.mismatches.map((m) => m.kind)).toContain('refunded-twice');
  });

  it('lists a transaction for no order of ours, and a second transaction for one order', () => {
    const r = run(
      [pay('x'), pay('a'), pay('a', 350, { transactionId: 'tx-other' })],
      [orderRow('a', 'dispensed')],
    );
    expect(r.mismatches.filter((m) => m.kind === 'unknown-transaction').map((m) => m.transactionId)).toEqual([
      'tx-x',
      'tx-other',
    ]);
  });

  it('lists an amount that differs from the order, and a payment the bill does not have', () => {
    const r = run([pay('a', 300)], [orderRow('a', 'dispensed'), orderRow('b', 'dispensed')]);
    expect(r.mismatches.map((m) => m.kind).sort()).toEqual(['amount-differs', 'missing-from-bill']);
  });

  it('takes a refund of an earlier day as no mismatch and outside the day balance', () => {
    const r = run([refund('old')], [orderRow('old', 'refunded', { paidAt: from - 3600_000 })]);
    expect(r.mismatches).toEqual([]);
    expect(r.totals[0]).toMatchObject({ paid: 0, refunds: 1, balanced: true });
  });

  it('finds no mismatch in any day where every payment was dispensed or refunded once (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ amount: fc.integer({ min: 1, max: 1_000_000 }), refunded: fc.boolean() }), {
          maxLength: 40,
        }),
        (specs) => {
          const rows: BillRow[] = [];
          const orders: OrderRow[] = [];
          specs.forEach((s, i) => {
            const no = `o${i}`;
            rows.push(pay(no, s.amount));
            if (s.refunded) rows.push(refund(no, s.amount));
            orders.push(orderRow(no, s.refunded ? 'refunded' : 'dispensed', { amount: s.amount }));
          });
          const r = run(rows, orders);
          expect(r.mismatches).toEqual([]);
          const paid = specs.reduce((a, s) => a + s.amount, 0);
          if (specs.length) expect(r.totals[0]).toMatchObject({ paid, unsettled: 0, balanced: true });
        },
      ),
    );
  });

  it('reports every order left paid, and the unsettled total is exactly their sum (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 99_999 }), fc.boolean()), {
          minLength: 1,
          maxLength: 30,
        }),
        (specs) => {
          const rows = specs.map(([amount], i) => pay(`o${i}`, amount));
          const orders = specs.map(([amount, settled], i) =>
            orderRow(`o${i}`, settled ? 'dispensed' : 'paid', { amount }),
          );
          const r = run(rows, orders);
          const open = specs.filter(([, settled]) => !settled);
          expect(r.mismatches.filter((m) => m.kind === 'paid-not-settled')).toHaveLength(open.length);
          expect(r.totals[0]!.unsettled).toBe(open.reduce((a, [amount]) => a + amount, 0));
        },
      ),
    );
  });

  it('balances a credit order as its vended part dispensed and its unspent rest refunded, to the fen', () => {
    const credit = (no: string, state: PlatformOrderState, vendedAmount: number | null) =>
      orderRow(no, state, { kind: 'credit', amount: 500, vendedAmount });
    const r = run(
      [pay('p', 500), refund('p', 150), pay('w', 500), pay('c', 500), refund('c', 500)],
      [credit('p', 'refunded', 350), credit('w', 'dispensed', 500), credit('c', 'refunded', null)],
    );
    expect(r.mismatches).toEqual([]);
    expect(r.totals[0]).toMatchObject({ paid: 1500, dispensed: 850, refunded: 650, balanced: true });
  });

  it('lists a credit order whose unspent rest is not refunded yet, or refunded wrongly', () => {
    const credit = (no: string, state: PlatformOrderState) =>
      orderRow(no, state, { kind: 'credit', amount: 500, vendedAmount: 350 });
    const r = run(
      [pay('open', 500), pay('more', 500), refund('more', 200)],
      [credit('open', 'refund_requested'), credit('more', 'refunded')],
    );
    expect(r.mismatches.map((m) => [m.kind, m.outTradeNo])).toEqual([
      ['paid-not-settled', 'open'],
      ['amount-differs', 'more'],
    ]);
    expect(r.totals[0]).toMatchObject({ paid: 1000, dispensed: 700, refunded: 200, unsettled: 100 });
  });

  it('balances any day of credit orders whose rest was refunded exactly once (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.integer({ min: 1, max: 100_000 }).chain((credit) =>
            fc.record({
              credit: fc.constant(credit),
              vended: fc.option(fc.integer({ min: 0, max: credit })),
            }),
          ),
          { minLength: 1, maxLength: 30 },
        ),
        (specs) => {
          const rows: BillRow[] = [];
          const orders: OrderRow[] = [];
          specs.forEach((s, i) => {
            const no = `k${i}`;
            const rest = s.credit - (s.vended ?? 0);
            rows.push(pay(no, s.credit));
            if (rest > 0) rows.push(refund(no, rest));
            orders.push(
              orderRow(no, rest > 0 ? 'refunded' : 'dispensed', {
                kind: 'credit',
                amount: s.credit,
                vendedAmount: s.vended,
              }),
            );
          });
          const r = run(rows, orders);
          expect(r.mismatches).toEqual([]);
          expect(r.totals[0]).toMatchObject({
            paid: specs.reduce((a, s) => a + s.credit, 0),
            dispensed: specs.reduce((a, s) => a + (s.vended ?? 0), 0),
            balanced: true,
          });
        },
      ),
    );
  });

  it('bounds a bill day at Beijing midnight and maps instants back to their day (property)', () => {
    expect(new Date(from).toISOString()).toBe('2026-11-30T16:00:00.000Z');
    expect(to - from).toBe(86_400_000);
    expect(() => beijingDayBounds('2026-02-30')).toThrow(/calendar day/);
    expect(() => beijingDayBounds('yesterday')).toThrow(/YYYY-MM-DD/);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), (at) => {
        const b = beijingDayBounds(beijingDay(at));
        expect(at >= b.from && at < b.to).toBe(true);
      }),
    );
  });
});
