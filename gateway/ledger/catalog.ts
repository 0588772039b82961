import type { Money } from '../money.ts';

/** What the ledger needs to know about the site's machines to validate an order. */
export interface MachineCatalog {
  /** undefined: no such machine on this gateway. */
  machine(machineId: string): { slot(slot: number): { price?: Money } | undefined } | undefined;
}

export interface CatalogEntry {
  machineId: string;
  slots: ReadonlyArray<{ slot: number; price?: Money }>;
}

export function catalogFrom(entries: readonly CatalogEntry[]): MachineCatalog {
  const byId = new Map(entries.map((e) => [e.machineId, new Map(e.slots.map((s) => [s.slot, s]))]));
  return {
    machine(machineId) {
      const slots = byId.get(machineId);
      if (!slots) return undefined;
      return { slot: (n) => slots.get(n) };
    },
  };
}
