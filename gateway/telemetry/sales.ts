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

interface GroupRow {
  machine_id: string;
  slot: number;
  currency: string;
}

interface ProductRow extends GroupRow {
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
  readonly #firstGroup: Statement<[], GroupRow>;
  readonly #nextCurrency: Statement<[string, number, string], GroupRow>;
  readonly #nextSlot: Statement<[string, number], GroupRow>;
  readonly #nextMachine: Statement<[string], GroupRow>;
  readonly #groupDay: Statement<
    [string, number, string, number, number],
    { n: number; total: number | null }
  >;
  readonly #refunds: Statement<[number, number], RefundRow>;

  constructor(opts: SalesOptions) {
    this.#o = opts;
    // Sales read the partial index orders_sales (machine_id, slot, currency,
    // updated_at, amount) WHERE state = 'dispensed' (store migration 11): a
    // skip scan finds each (machine, slot, currency) that ever sold, one seek
    // each, then each of them is one seek and an in-order range per day. One
    // GROUP BY per day over the (state, updated_at) index read every order
    // of the day from the table and sorted them all: over 7 days of 100,000
    // orders those queries alone took 57-87 ms of CPU, the whole report
    // 13-15 ms this way (bench/results/JOURNAL.md, session 7).
    const db = opts.db;
    const group = `SELECT machine_id, slot, currency FROM orders INDEXED BY orders_sales WHERE state = 'dispensed'`;
    this.#firstGroup = db.prepare(`${group} ORDER BY machine_id, slot, currency LIMIT 1`);
    this.#nextCurrency = db.prepare(
      `${group} AND machine_id = ? AND slot = ? AND currency > ? ORDER BY currency LIMIT 1`,
    );
    this.#nextSlot = db.prepare(`${group} AND machine_id = ? AND slot > ? ORDER BY slot, currency LIMIT 1`);
    this.#nextMachine = db.prepare(`${group} AND machine_id > ? ORDER BY machine_id, slot, currency LIMIT 1`);
    this.#groupDay = db.prepare(
      `SELECT COUNT(*) AS n, SUM(amount) AS total FROM orders INDEXED BY orders_sales
       WHERE state = 'dispensed' AND machine_id = ? AND slot = ? AND currency = ? AND updated_at >= ? AND updated_at < ?`,
    );
    // Refunds are few: the ledger's (state, updated_at) index.
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
    const groups = this.#groups();
    return {
      timeZone,
      days: recentDays(now, days, timeZone).map((d) => this.#day(groups, d.date, d.start, d.end)),
    };
  }

  /** Every (machine, slot, currency) with a dispensed order, in that order (a skip scan of orders_sales). */
  #groups(): GroupRow[] {
    const out: GroupRow[] = [];
    let g = this.#firstGroup.get();
    while (g) {
      out.push(g);
      g =
        this.#nextCurrency.get(g.machine_id, g.slot, g.currency) ??
        this.#nextSlot.get(g.machine_id, g.slot) ??
        this.#nextMachine.get(g.machine_id);
    }
    return out;
  }

  /** What each group sold in [start, end), in group order, leaving out those that sold nothing (as GROUP BY would). */
  #products(groups: GroupRow[], start: number, end: number): ProductRow[] {
    const out: ProductRow[] = [];
    for (const g of groups) {
      const r = this.#groupDay.get(g.machine_id, g.slot, g.currency, start, end);
      if (r && r.n > 0) out.push({ ...g, n: r.n, total: r.total ?? 0 });
    }
    return out;
  }

  #day(groups: GroupRow[], date: string, start: number, end: number): DaySales {
    const byProduct: ProductSales[] = this.#products(groups, start, end).map((r) => {
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
