/**
 * The counters of an audit (totals since the machine was initialised, as
 * EVA-DTS keeps them: VA101/102, CA201/202, CA305 + CA308, DA201/202 +
 * DB201/202, PA201/202), their change between two reads, and which of them
 * the ledger is compared with.
 */
import type { AuditCounters } from '../../contract/events.ts';
import type { DexAudit } from '../../devices/dex/evadts/types.ts';

export type AuditDelta = AuditCounters & { counterReset: boolean };

const cv = (p: { count?: number; value?: number }) => ({ count: p.count ?? 0, value: p.value ?? 0 });

export function countersOf(a: DexAudit): AuditCounters {
  const cashless = a.cashless.reduce(
    (t, c) => ({ count: t.count + (c.sales.count ?? 0), value: t.value + (c.sales.value ?? 0) }),
    { count: 0, value: 0 },
  );
  return {
    paidVends: cv(a.paidVends),
    cashSales: cv(a.cashSales),
    cashIn: (a.cashIn.coins ?? 0) + (a.cashIn.bills ?? 0),
    cashless,
    selections: a.selections
      .slice(0, 1000)
      .map((s) => ({ selection: s.selection.slice(0, 32), ...cv(s.paid) })),
  };
}

/**
 * The change from `prev` to `cur`. A counter that went down means the
 * machine was reset (or replaced): its change is taken as its new total,
 * and `counterReset` says so.
 */
export function diffCounters(prev: AuditCounters, cur: AuditCounters): AuditDelta {
  let counterReset = false;
  const d = (a: number, b: number) => {
    if (b < a) {
      counterReset = true;
      return b;
    }
    return b - a;
  };
  const dcv = (a: { count: number; value: number }, b: { count: number; value: number }) => ({
    count: d(a.count, b.count),
    value: d(a.value, b.value),
  });
  const before = new Map(prev.selections.map((s) => [s.selection, s]));
  const result: AuditCounters = {
    paidVends: dcv(prev.paidVends, cur.paidVends),
    cashSales: dcv(prev.cashSales, cur.cashSales),
    cashIn: d(prev.cashIn, cur.cashIn),
    cashless: dcv(prev.cashless, cur.cashless),
    selections: cur.selections.map((s) => ({
      selection: s.selection,
      ...dcv(before.get(s.selection) ?? { count: 0, value: 0 }, s),
    })),
  };
  return { ...result, counterReset };
}

/**
 * The vends the gateway should have paid for, by the audit: its cashless
 * vends when it has a cashless device (the gateway's payments reach the
 * machine through it), else its paid vends that were not cash.
 */
export function auditedGatewayVends(
  audit: Pick<DexAudit, 'cashless'>,
  delta: AuditCounters,
): { compared: 'cashless' | 'non-cash'; count: number; value: number } {
  if (audit.cashless.length > 0) return { compared: 'cashless', ...delta.cashless };
  return {
    compared: 'non-cash',
    count: Math.max(0, delta.paidVends.count - delta.cashSales.count),
    value: Math.max(0, delta.paidVends.value - delta.cashSales.value),
  };
}
