/**
 * Sales, revenue and refunds per day in the site's time zone, read from the
 * order ledger's own table (gateway/ledger: `orders`), never copied: a sale
 * is an order that ended `dispensed`, a refund one that ended
 * `refund_requested`, and the day is the local date of that ending (its
 * `updated_at`: terminal states never change again). Amounts are what was
 * paid, in minor units, summed per currency (never across currencies).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.ts';
import { recentDays } from './zoned-days.ts';

export interface MachineSales {
  machineId: string;
  currency: string;
  count: number;
  revenue: number;
}

export interface ProductSales extends MachineSales {
  slot: number;
  /** The slot's product name from the config, when it has one. */
  product?: string;
}

export interface RefundTotal {
  currency: string;
  count: number;
  amount: number;
}

export interface DaySales {
  /** Local date in the site's time zone, YYYY-MM-DD. */
  date: string;
  byMachine: MachineSales[];
  byProduct: ProductSales[];
  refunds: RefundTotal[];
}

export interface SalesReport {
  timeZone: string;
  /** Today first. */
  days: DaySales[];
}

/** Days a report may cover; the REST API refuses more. */
export const MAX_SALES_DAYS = 31;

interface ProductRow {
  machine_id: string;
  slot: number;
  currency: string;
  n: number;
  total: number;
}

interface RefundRow {
  currency: string;
  n: number;
  total: number;
}

export interface SalesOptions {
  db: Db;
  timeZone: string;
  /** Product names by machine id and slot (config machines[].slots[].name). */
  productName?: (machineId: string, slot: number) => string | undefined;
  now?: () => number;
}

export class SalesLedgerView {
  readonly #o: SalesOptions;
  readonly #products: Statement<[number, number], ProductRow>;
  readonly #refunds: Statement<[number, number], RefundRow>;

  constructor(opts: SalesOptions) {
    this.#o = opts;
    // Both use the ledger's (state, updated_at) index.
    this.#products = opts.db.prepare(
      `SELECT machine_id, slot, currency, COUNT(*) AS n, SUM(amount) AS total FROM orders
       WHERE state = 'dispensed' AND updated_at >= ? AND updated_at < ?
       GROUP BY machine_id, slot, currency ORDER BY machine_id, slot, currency`,
    );
    this.#refunds = opts.db.prepare(
      `SELECT currency, COUNT(*) AS n, SUM(amount) AS total FROM orders
       WHERE state = 'refund_requested' AND updated_at >= ? AND updated_at < ?
       GROUP BY currency ORDER BY currency`,
    );
  }

  get timeZone(): string {
    return this.#o.timeZone;
  }

  /** The last `days` local days (1..31), today first, in `timeZone` (default the site's). */
  report(days: number, timeZone = this.#o.timeZone): SalesReport {
    if (!Number.isInteger(days) || days < 1 || days > MAX_SALES_DAYS)
      throw new RangeError(`days must be an integer 1..${MAX_SALES_DAYS}, got ${days}`);
    const now = (this.#o.now ?? Date.now)();
    return {
      timeZone,
      days: recentDays(now, days, timeZone).map((d) => this.#day(d.date, d.start, d.end)),
    };
  }

  #day(date: string, start: number, end: number): DaySales {
    const byProduct: ProductSales[] = this.#products.all(start, end).map((r) => {
      const product = this.#o.productName?.(r.machine_id, r.slot);
      return {
        machineId: r.machine_id,
        slot: r.slot,
        ...(product !== undefined ? { product } : {}),
        currency: r.currency,
        count: r.n,
        revenue: r.total,
      };
    });
    const machines = new Map<string, MachineSales>();
    for (const p of byProduct) {
      const key = `${p.machineId}\u0000${p.currency}`;
      const m = machines.get(key) ?? { machineId: p.machineId, currency: p.currency, count: 0, revenue: 0 };
      m.count += p.count;
      m.revenue += p.revenue;
      machines.set(key, m);
    }
    const refunds = this.#refunds
      .all(start, end)
      .map((r) => ({ currency: r.currency, count: r.n, amount: r.total }));
    return { date, byMachine: [...machines.values()], byProduct, refunds };
  }
}
