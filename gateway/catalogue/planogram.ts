/**
 * The machines' catalogue as it is now: per slot the product, price,
 * whether it sells, how many it holds and when it runs low. Seeded from the
 * config file; what the platform changes (`catalogue.set`) is kept in the
 * store as per-field overrides and wins over the file, across restarts.
 *
 * One change is one transaction: every slot it names changes, or none does
 * (a single bad slot refuses the whole change). The ledger validates paid
 * orders against this catalogue, so a new price takes effect for the next
 * order.
 */
import type { CatalogueSlotChange } from '../../contract/commands.ts';
import type { CatalogueSlot } from '../../contract/events.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { Money } from '../../core/money.ts';
import type { MachineCatalog } from '../ledger/catalog.ts';
import type { Db } from '../store/db.ts';
import { inTx } from '../store/tx.ts';

/** What the config says of one slot. */
export interface SlotSeed {
  slot: number;
  product?: string | undefined;
  /** Minor units of the machine's currency. */
  price?: number | undefined;
  capacity?: number | undefined;
  lowStockAt?: number | undefined;
}

export interface MachineSeed {
  machineId: string;
  currency: string;
  /** A cashless machine names its own items: any slot 1-255 takes orders, at the price it asks. */
  anySlot?: boolean;
  slots: readonly SlotSeed[];
}

export type CatalogueListener = (machineId: string, slots: readonly CatalogueSlot[]) => void;

/** The price checks' ceiling whatever the config says: 10^9 minor units (10 million yuan). */
export const ABSURD_PRICE = 1_000_000_000;

/** The low-stock mark when none is configured: a fifth of the capacity (at least 1), else 2. */
export function defaultLowStockAt(capacity: number | null): number {
  return capacity === null ? 2 : Math.max(1, Math.floor(capacity / 5));
}

interface OverrideRow {
  machine_id: string;
  slot: number;
  product: string | null;
  price: number | null;
  currency: string | null;
  enabled: number | null;
  capacity: number | null;
  low_stock_at: number | null;
}

interface MachineState {
  seed: MachineSeed;
  slots: Map<number, CatalogueSlot>;
}

export class Planogram implements MachineCatalog {
  readonly #db: Db;
  readonly #machines = new Map<string, MachineState>();
  readonly #maxPrice: number;
  readonly #now: () => number;
  readonly #listeners = new Set<CatalogueListener>();

  constructor(opts: { db: Db; machines: readonly MachineSeed[]; maxPrice?: number; now?: () => number }) {
    this.#db = opts.db;
    this.#maxPrice = Math.min(opts.maxPrice ?? ABSURD_PRICE, ABSURD_PRICE);
    this.#now = opts.now ?? Date.now;
    for (const seed of opts.machines) {
      const slots = new Map<number, CatalogueSlot>();
      for (const s of seed.slots) {
        const capacity = s.capacity ?? null;
        slots.set(s.slot, {
          slot: s.slot,
          product: s.product ?? null,
          price: s.price === undefined ? null : { amount: s.price, currency: seed.currency },
          enabled: true,
          capacity,
          lowStockAt: s.lowStockAt ?? defaultLowStockAt(capacity),
        });
      }
      this.#machines.set(seed.machineId, { seed, slots });
    }
    const rows = this.#db.prepare('SELECT * FROM catalogue_overrides').all() as OverrideRow[];
    for (const row of rows) {
      const m = this.#machines.get(row.machine_id);
      const current = m?.slots.get(row.slot);
      // A machine or slot no longer in the config: its override waits, unused, until it comes back.
      if (!m || !current) continue;
      m.slots.set(row.slot, merge(current, row, m.seed.currency));
    }
  }

  /** The machine ids, in config order. */
  machineIds(): string[] {
    return [...this.#machines.keys()];
  }

  has(machineId: string): boolean {
    return this.#machines.has(machineId);
  }

  /** Whether the machine names its own items (cashless): its catalogue is not managed here. */
  isCashless(machineId: string): boolean {
    return this.#machines.get(machineId)?.seed.anySlot === true;
  }

  /** The machine's slots, by slot number; undefined for an unknown machine. */
  slots(machineId: string): CatalogueSlot[] | undefined {
    const m = this.#machines.get(machineId);
    return m ? [...m.slots.values()].sort((a, b) => a.slot - b.slot) : undefined;
  }

  slot(machineId: string, slot: number): CatalogueSlot | undefined {
    return this.#machines.get(machineId)?.slots.get(slot);
  }

  /** The ledger's view (MachineCatalog). */
  machine(
    machineId: string,
  ): { slot(slot: number): { price?: Money; disabled?: boolean } | undefined } | undefined {
    const m = this.#machines.get(machineId);
    if (!m) return undefined;
    return {
      slot: (n) => {
        const s = m.slots.get(n);
        if (!s) return m.seed.anySlot && n >= 1 && n <= 255 ? {} : undefined;
        return {
          ...(s.price ? { price: s.price } : {}),
          ...(s.enabled ? {} : { disabled: true }),
        };
      },
    };
  }

  /** Listens to every applied change (displays, the item names of a cashless flow). */
  onChange(listener: CatalogueListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * What the machine's catalogue would be after the change, or a
   * VendgateError naming the first thing wrong (machine, slot, field).
   * Changes nothing.
   */
  check(machineId: string, changes: readonly CatalogueSlotChange[]): CatalogueSlot[] {
    const m = this.#machines.get(machineId);
    if (!m) {
      throw new VendgateError(
        ErrorCode.ManagementMachineUnknown,
        `no machine "${machineId}" on this gateway`,
        {
          machineId,
        },
      );
    }
    if (m.seed.anySlot) {
      throw new VendgateError(
        ErrorCode.ManagementUnsupported,
        `machine "${machineId}" is a cashless machine: it names its own items and prices`,
        { machineId },
      );
    }
    if (changes.length === 0) {
      throw new VendgateError(ErrorCode.ManagementChangeInvalid, 'the change names no slot', { machineId });
    }
    const seen = new Set<number>();
    const next = new Map(m.slots);
    for (const [i, c] of changes.entries()) {
      const where = `slots[${i}] (slot ${c.slot})`;
      if (seen.has(c.slot)) {
        throw new VendgateError(
          ErrorCode.ManagementChangeInvalid,
          `${where}: slot ${c.slot} is named twice`,
          {
            machineId,
            slot: c.slot,
          },
        );
      }
      seen.add(c.slot);
      const current = m.slots.get(c.slot);
      if (!current) {
        throw new VendgateError(
          ErrorCode.ManagementSlotUnknown,
          `${where}: machine "${machineId}" has no slot ${c.slot} (its slots are ${[...m.slots.keys()].join(', ')})`,
          { machineId, slot: c.slot },
        );
      }
      if (c.price) this.#checkPrice(c.price, m.seed.currency, where, machineId, c.slot);
      if (c.product !== undefined && c.product.trim() === '') {
        throw new VendgateError(ErrorCode.ManagementChangeInvalid, `${where}: the product name is empty`, {
          machineId,
          slot: c.slot,
        });
      }
      const capacity = c.capacity ?? current.capacity;
      const explicitLow = c.lowStockAt ?? (c.capacity === undefined ? current.lowStockAt : undefined);
      const lowStockAt = explicitLow ?? defaultLowStockAt(capacity);
      if (capacity !== null && lowStockAt >= capacity) {
        throw new VendgateError(
          ErrorCode.ManagementChangeInvalid,
          `${where}: the low-stock mark ${lowStockAt} must be below the capacity ${capacity}`,
          { machineId, slot: c.slot },
        );
      }
      next.set(c.slot, {
        slot: c.slot,
        product: c.product?.trim() ?? current.product,
        price: c.price ? { amount: c.price.amount, currency: c.price.currency } : current.price,
        enabled: c.enabled ?? current.enabled,
        capacity,
        lowStockAt,
      });
    }
    return [...next.values()].sort((a, b) => a.slot - b.slot);
  }

  /**
   * Applies a change: checks it whole, writes every slot's override in one
   * transaction (the caller's, when it is in one), then tells the listeners.
   * Returns the machine's whole catalogue after it.
   */
  apply(machineId: string, changes: readonly CatalogueSlotChange[]): CatalogueSlot[] {
    const next = this.check(machineId, changes);
    const m = this.#machines.get(machineId)!;
    const now = this.#now();
    const upsert = this.#db.prepare(
      `INSERT INTO catalogue_overrides (machine_id, slot, product, price, currency, enabled, capacity, low_stock_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (machine_id, slot) DO UPDATE SET
         product = COALESCE(excluded.product, product),
         price = COALESCE(excluded.price, price),
         currency = COALESCE(excluded.currency, currency),
         enabled = COALESCE(excluded.enabled, enabled),
         capacity = COALESCE(excluded.capacity, capacity),
         low_stock_at = COALESCE(excluded.low_stock_at, low_stock_at),
         updated_at = excluded.updated_at`,
    );
    inTx(this.#db, () => {
      for (const c of changes) {
        const after = next.find((s) => s.slot === c.slot)!;
        upsert.run(
          machineId,
          c.slot,
          c.product === undefined ? null : after.product,
          c.price ? c.price.amount : null,
          c.price ? c.price.currency : null,
          c.enabled === undefined ? null : c.enabled ? 1 : 0,
          c.capacity ?? null,
          // A new capacity moves a default mark with it, so the mark is kept whenever either changed.
          c.lowStockAt !== undefined || c.capacity !== undefined ? after.lowStockAt : null,
          now,
        );
      }
    });
    m.slots = new Map(next.map((s) => [s.slot, s]));
    for (const l of this.#listeners) {
      try {
        l(machineId, next);
      } catch {
        // A display that fails to follow must not undo a committed change.
      }
    }
    return next;
  }

  #checkPrice(
    price: { amount: number; currency: string },
    currency: string,
    where: string,
    machineId: string,
    slot: number,
  ): void {
    const refuse = (why: string): never => {
      throw new VendgateError(ErrorCode.ManagementPriceInvalid, `${where}: the price ${why}`, {
        machineId,
        slot,
      });
    };
    const { amount } = price;
    if (!Number.isFinite(amount)) refuse('is not a number');
    if (!Number.isInteger(amount)) refuse(`${amount} is fractional: give whole minor units (e.g. fen)`);
    if (amount < 0) refuse(`${amount} is negative`);
    if (amount > this.#maxPrice) refuse(`${amount} is above the maximum of ${this.#maxPrice} minor units`);
    if (price.currency !== currency) {
      refuse(`is in ${price.currency}, but machine "${machineId}" sells in ${currency}`);
    }
  }
}

function merge(current: CatalogueSlot, row: OverrideRow, currency: string): CatalogueSlot {
  const capacity = row.capacity ?? current.capacity;
  return {
    slot: current.slot,
    product: row.product ?? current.product,
    // An override in another currency (the config's currency changed since) is not a price for this one.
    price: row.price !== null && row.currency === currency ? { amount: row.price, currency } : current.price,
    enabled: row.enabled === null ? current.enabled : row.enabled === 1,
    capacity,
    lowStockAt:
      row.low_stock_at ?? (row.capacity === null ? current.lowStockAt : defaultLowStockAt(capacity)),
  };
}
