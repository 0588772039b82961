/**
 * What the gateway's order ledger dispensed on one machine in a time
 * window: the orders whose transition to `dispensed` (order_transitions,
 * gateway/ledger/ledger.ts) falls in (from, to]. Read-only, straight from
 * the store, so the audit never waits on the ledger.
 */
import type { Db } from '../store/db.ts';

export interface DispensedInWindow {
  count: number;
  /** Sum of the order amounts in `currency`; orders in another currency are counted in `otherCurrency`. */
  value: number;
  otherCurrency: number;
}

export function dispensedBetween(
  db: Db,
  machineId: string,
  fromMs: number,
  toMs: number,
  currency: string,
): DispensedInWindow {
  const row = db
    .prepare(
      `SELECT COUNT(*) AS n,
              COALESCE(SUM(CASE WHEN o.currency = ? THEN o.amount ELSE 0 END), 0) AS value,
              COALESCE(SUM(CASE WHEN o.currency = ? THEN 0 ELSE 1 END), 0) AS other
         FROM order_transitions t JOIN orders o ON o.order_id = t.order_id
        WHERE o.machine_id = ? AND t.to_state = 'dispensed' AND t.at > ? AND t.at <= ?`,
    )
    .get(currency, currency, machineId, fromMs, toMs) as { n: number; value: number; other: number };
  return { count: row.n, value: row.value, otherCurrency: row.other };
}
