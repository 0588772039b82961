import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AuditCounters } from '../../contract/events.ts';
import { auditedGatewayVends, diffCounters } from './counters.ts';

const counters = (n: number): AuditCounters => ({
  paidVends: { count: 10 * n, value: 3500 * n },
  cashSales: { count: 6 * n, value: 2100 * n },
  cashIn: 2500 * n,
  cashless: { count: 4 * n, value: 1400 * n },
  selections: [
    { selection: '1', count: 7 * n, value: 2450 * n },
    { selection: '2', count: 3 * n, value: 1050 * n },
  ],
});

describe('audit counters', () => {
  it('subtracts the previous read from the current one, field by field and per selection', () => {
    const d = diffCounters(counters(1), counters(3));
    expect(d).toEqual({ ...counters(2), counterReset: false });
  });

  it('takes a counter that went down (a machine reset) as its new total and says so', () => {
    const d = diffCounters(counters(5), counters(1));
    expect(d.counterReset).toBe(true);
    expect(d.cashless).toEqual({ count: 4, value: 1400 });
  });

  it('counts a selection that was not in the previous read from zero', () => {
    const cur = counters(1);
    cur.selections.push({ selection: '9', count: 2, value: 600 });
    expect(diffCounters(counters(1), cur).selections.at(-1)).toEqual({
      selection: '9',
      count: 2,
      value: 600,
    });
  });

  it('never gives a negative change', () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.nat(1000), (a, b) => {
        const d = diffCounters(counters(a), counters(b));
        for (const v of [
          d.paidVends.count,
          d.cashSales.value,
          d.cashIn,
          d.cashless.count,
          ...d.selections.map((s) => s.value),
        ])
          expect(v).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it('compares the ledger with the cashless vends, or with the non-cash paid vends when the audit has no cashless device', () => {
    const delta = counters(1);
    expect(
      auditedGatewayVends({ cashless: [{ device: 'DA', id: {}, sales: {}, salesSinceReset: {} }] }, delta),
    ).toEqual({
      compared: 'cashless',
      count: 4,
      value: 1400,
    });
    expect(auditedGatewayVends({ cashless: [] }, delta)).toEqual({
      compared: 'non-cash',
      count: 4,
      value: 1400,
    });
  });
});
