/**
 * Runs one day's reconciliation: fetches each configured provider's trade
 * bill, loads the orders the bills name and the orders paid that day, and
 * matches them (match.ts). A bill that cannot be fetched is reported as an
 * error of the report, not thrown, so one provider being late does not hide
 * the other's mismatches.
 */
import type { Log } from '../../core/log.ts';
import type { PaymentProvider, TradeBill } from '../providers/port.ts';
import type { OrderRow, Store } from '../store/port.ts';
import { beijingDayBounds, type ReconcileReport, reconcile } from './match.ts';

export interface ReconcileDeps {
  store: Pick<Store, 'orders'>;
  providers: readonly PaymentProvider[];
  log: Log;
  now?: () => number;
}

export async function reconcileDay(deps: ReconcileDeps, day: string): Promise<ReconcileReport> {
  const { from, to } = beijingDayBounds(day);
  const bills: TradeBill[] = [];
  const errors: ReconcileReport['errors'] = [];
  for (const p of deps.providers) {
    try {
      bills.push(await p.fetchBill(day));
    } catch (err) {
      errors.push({ provider: p.name, error: (err as Error).message.slice(0, 300) });
      deps.log.warn({ provider: p.name, day, err: (err as Error).message }, 'trade bill not fetched');
    }
  }
  const orders = new Map<string, OrderRow>();
  // Orders are created before they are paid; a day's payments were created at most a day before.
  for (const o of await deps.store.orders.listCreatedBetween(from - 24 * 3600_000, to))
    orders.set(o.outTradeNo, o);
  for (const bill of bills) {
    for (const row of bill.rows) {
      if (orders.has(row.outTradeNo)) continue;
      const o = await deps.store.orders.get(row.outTradeNo);
      if (o) orders.set(o.outTradeNo, o);
    }
  }
  const report = reconcile({ day, bills, orders, from, to, generatedAt: (deps.now ?? Date.now)(), errors });
  deps.log.info(
    { day, mismatches: report.mismatches.length, balanced: report.totals.every((t) => t.balanced) },
    'reconciliation done',
  );
  return report;
}
