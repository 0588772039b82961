import type { Money } from '../../core/money.ts';

/** What the ledger needs to know of one slot to validate an order. */
export interface CatalogSlot {
  price?: Money;
  /** The operator disabled the slot: paid orders for it are refunded (12009). */
  disabled?: boolean;
}

/** What the ledger needs to know about the site's machines to validate an order. */
export interface MachineCatalog {
  /** undefined: no such machine on this gateway. */
  machine(machineId: string): { slot(slot: number): CatalogSlot | undefined } | undefined;
}

export interface CatalogEntry {
  machineId: string;
  slots: ReadonlyArray<{ slot: number; price?: Money }>;
  /** Any item 1-255 is valid (a cashless machine names its own items and prices). */
  anySlot?: boolean;
}

export function catalogFrom(entries: readonly CatalogEntry[]): MachineCatalog {
  const byId = new Map(
    entries.map((e) => [e.machineId, { e, slots: new Map(e.slots.map((s) => [s.slot, s])) }]),
  );
  return {
    machine(machineId) {
      const m = byId.get(machineId);
      if (!m) return undefined;
      return { slot: (n) => m.slots.get(n) ?? (m.e.anySlot && n >= 1 && n <= 255 ? { slot: n } : undefined) };
    },
  };
}
