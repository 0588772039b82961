/**
 * Each slot's stock level. Where the machine's protocol can say
 * (`VendingMachine.readStock`), the level is what it senses, read on start
 * and after every vend and refill; otherwise it is counted: a dispensed vend
 * takes one, a vend the controller reports as an empty slot sets 0, a refill
 * sets the capacity or the level given. Unknown (null) until the first
 * refill or reading. Each slot says which (`source`).
 *
 * The level raises and clears `low_stock` (at or below the slot's mark, not
 * empty) and `sold_out` (0) on the ConditionBoard.
 */
import type { StockSlot } from '../../contract/events.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import type { SensedStock, VendingMachine, VendOutcome } from '../../devices/vending/port.ts';
import type { Planogram } from '../catalogue/planogram.ts';
import type { ConditionBoard } from '../conditions/conditions.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { Db } from '../store/db.ts';
import { inTx } from '../store/tx.ts';

export type StockCause = 'vend' | 'test_vend' | 'refill' | 'sensed';

export interface StockKeeperOptions {
  db: Db;
  catalogue: Planogram;
  conditions: ConditionBoard;
  outbox: Pick<Outbox, 'append'>;
  /** Only `readStock` is used: a machine that has it senses its stock. */
  machines: ReadonlyMap<string, VendingMachine | Pick<VendingMachine, 'readStock'>>;
  log: Log;
  now?: () => number;
}

interface LevelRow {
  machine_id: string;
  slot: number;
  level: number | null;
  source: 'sensed' | 'counted';
}

/** A refill as checked: the level each slot will have. */
export interface RefillPlan {
  machineId: string;
  levels: ReadonlyArray<{ slot: number; level: number }>;
}

/** Most items a slot can be said to hold when the machine senses it (a board's bad reading is not a level). */
const MAX_SENSED_LEVEL = 10_000;

export class StockKeeper {
  readonly #o: StockKeeperOptions;
  readonly #levels = new Map<string, Map<number, { level: number | null; source: 'sensed' | 'counted' }>>();
  readonly #now: () => number;

  constructor(opts: StockKeeperOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    this.#reload();
  }

  /** The levels as stored: at start, and after a write that did not commit (a full disk). */
  #reload(): void {
    this.#levels.clear();
    const rows = this.#o.db
      .prepare('SELECT machine_id, slot, level, source FROM stock_levels')
      .all() as LevelRow[];
    for (const r of rows) this.#mapOf(r.machine_id).set(r.slot, { level: r.level, source: r.source });
  }

  /** The level the store holds now, inside the caller's transaction. */
  #storedLevel(machineId: string, slot: number): number | null {
    const row = this.#o.db
      .prepare('SELECT level FROM stock_levels WHERE machine_id = ? AND slot = ?')
      .get(machineId, slot) as { level: number | null } | undefined;
    return row?.level ?? null;
  }

  /** Whether the machine senses its own stock. */
  sensed(machineId: string): boolean {
    return typeof this.#o.machines.get(machineId)?.readStock === 'function';
  }

  /** Every catalogue slot of the machine with its level; undefined for an unknown machine. */
  levels(machineId: string): StockSlot[] | undefined {
    const slots = this.#o.catalogue.slots(machineId);
    if (!slots) return undefined;
    const fallback = this.sensed(machineId) ? 'sensed' : 'counted';
    return slots.map((s) => {
      const l = this.#levels.get(machineId)?.get(s.slot);
      return { slot: s.slot, level: l?.level ?? null, capacity: s.capacity, source: l?.source ?? fallback };
    });
  }

  level(machineId: string, slot: number): number | null {
    return this.#levels.get(machineId)?.get(slot)?.level ?? null;
  }

  /** Raises or clears every slot's conditions from the stored levels (on start). */
  evaluateAll(): void {
    for (const id of this.#o.catalogue.machineIds()) {
      for (const s of this.#o.catalogue.slots(id) ?? []) this.#evaluate(id, s.slot);
    }
  }

  /**
   * Counts a vend outcome (an order's, from the ledger inside the
   * transaction that records it, or a test vend's). Appends `stock.changed`
   * when a known level moved.
   */
  countOutcome(
    machineId: string,
    outcome: VendOutcome,
    cause: 'vend' | 'test_vend',
    commandId?: string,
  ): void {
    if (this.#o.catalogue.isCashless(machineId)) return;
    const slot = outcome.slot;
    // From the store, not the cache: this runs inside the outcome's transaction, which the
    // vend runner retries whole when it fails to commit (a full disk); a cached level would
    // then be counted down once per attempt.
    const current = this.#storedLevel(machineId, slot);
    let next: number | null = current;
    if (outcome.kind === 'dispensed') next = current === null ? null : Math.max(0, current - 1);
    else if (outcome.reason === 'empty-slot') next = 0;
    if (next === current) return;
    this.#write(machineId, [{ slot, level: next ?? 0 }], 'counted');
    this.#append(machineId, cause, [slot], commandId === undefined ? {} : { commandId });
  }

  /**
   * Checks a refill: `slot` absent means every slot of the machine; `level`
   * absent means each slot's capacity. Throws a VendgateError naming what
   * is wrong; changes nothing.
   */
  checkRefill(machineId: string, slot: number | undefined, level: number | undefined): RefillPlan {
    const slots = this.#o.catalogue.slots(machineId);
    if (!slots) {
      throw new VendgateError(
        ErrorCode.ManagementMachineUnknown,
        `no machine "${machineId}" on this gateway`,
        {
          machineId,
        },
      );
    }
    if (this.#o.catalogue.isCashless(machineId)) {
      throw new VendgateError(
        ErrorCode.ManagementUnsupported,
        `machine "${machineId}" is a cashless machine: its stock is not kept here`,
        { machineId },
      );
    }
    if (level !== undefined && (!Number.isInteger(level) || level < 0)) {
      throw new VendgateError(
        ErrorCode.ManagementRefillInvalid,
        `the refill level ${level} is not a whole number of items (0 or more)`,
        { machineId, ...(slot === undefined ? {} : { slot }) },
      );
    }
    let targets = slots;
    if (slot !== undefined) {
      const one = slots.find((s) => s.slot === slot);
      if (!one) {
        throw new VendgateError(
          ErrorCode.ManagementSlotUnknown,
          `machine "${machineId}" has no slot ${slot} (its slots are ${slots.map((s) => s.slot).join(', ')})`,
          { machineId, slot },
        );
      }
      targets = [one];
    }
    const levels = targets.map((s) => {
      if (level === undefined) {
        if (s.capacity === null) {
          throw new VendgateError(
            ErrorCode.ManagementRefillInvalid,
            `slot ${s.slot} of machine "${machineId}" has no configured capacity: give the level it was refilled to`,
            { machineId, slot: s.slot },
          );
        }
        return { slot: s.slot, level: s.capacity };
      }
      if (s.capacity !== null && level > s.capacity) {
        throw new VendgateError(
          ErrorCode.ManagementRefillInvalid,
          `slot ${s.slot} of machine "${machineId}" holds at most ${s.capacity}: a refill to ${level} is more than it holds`,
          { machineId, slot: s.slot, capacity: s.capacity, level },
        );
      }
      return { slot: s.slot, level };
    });
    return { machineId, levels };
  }

  /** Applies a checked refill in one transaction and appends `stock.changed`; returns the changed slots. */
  refill(plan: RefillPlan, meta: { commandId?: string; waitedForVend?: boolean } = {}): StockSlot[] {
    return inTx(this.#o.db, () => {
      this.#write(plan.machineId, plan.levels, 'counted');
      return this.#append(
        plan.machineId,
        'refill',
        plan.levels.map((l) => l.slot),
        meta,
      );
    });
  }

  /**
   * Reads what the machine senses, where it can; stores the levels that
   * changed and appends `stock.changed` for them. Resolves false when the
   * machine cannot say or did not answer (the counted levels stay).
   */
  async sense(machineId: string): Promise<boolean> {
    const machine = this.#o.machines.get(machineId);
    if (!machine?.readStock) return false;
    let readings: readonly SensedStock[];
    try {
      readings = await machine.readStock();
    } catch (err) {
      this.#o.log.warn({ machineId, err: (err as Error).message }, 'could not read the sensed stock');
      return false;
    }
    const changed: Array<{ slot: number; level: number }> = [];
    for (const r of readings) {
      // Only the catalogue's slots, and only plausible levels: the board's word is bounded like any input.
      if (!this.#o.catalogue.slot(machineId, r.slot)) continue;
      if (!Number.isInteger(r.level) || r.level < 0 || r.level > MAX_SENSED_LEVEL) continue;
      const now = this.#levels.get(machineId)?.get(r.slot);
      if (now?.level !== r.level || now.source !== 'sensed') changed.push({ slot: r.slot, level: r.level });
    }
    if (changed.length === 0) return true;
    try {
      inTx(this.#o.db, () => {
        this.#write(machineId, changed, 'sensed');
        this.#append(
          machineId,
          'sensed',
          changed.map((c) => c.slot),
          {},
        );
      });
    } catch (err) {
      // A sensed reading is telemetry: the next read brings it again. The cache goes back to the store.
      this.#reload();
      this.#o.log.warn({ machineId, err: (err as Error).message }, 'could not store the sensed stock');
      return false;
    }
    return true;
  }

  #mapOf(machineId: string) {
    let m = this.#levels.get(machineId);
    if (!m) {
      m = new Map();
      this.#levels.set(machineId, m);
    }
    return m;
  }

  #write(
    machineId: string,
    levels: ReadonlyArray<{ slot: number; level: number }>,
    source: 'sensed' | 'counted',
  ): void {
    const upsert = this.#o.db.prepare(
      `INSERT INTO stock_levels (machine_id, slot, level, source, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (machine_id, slot) DO UPDATE SET level = excluded.level, source = excluded.source,
         updated_at = excluded.updated_at`,
    );
    const now = this.#now();
    for (const l of levels) upsert.run(machineId, l.slot, l.level, source, now);
    const m = this.#mapOf(machineId);
    for (const l of levels) m.set(l.slot, { level: l.level, source });
    for (const l of levels) this.#evaluate(machineId, l.slot);
  }

  #append(
    machineId: string,
    cause: 'vend' | 'test_vend' | 'refill' | 'sensed',
    slots: readonly number[],
    meta: { commandId?: string; waitedForVend?: boolean },
  ): StockSlot[] {
    const wanted = new Set(slots);
    const changed = (this.levels(machineId) ?? []).filter((s) => wanted.has(s.slot));
    this.#o.outbox.append('stock.changed', { machineId, cause, ...meta, slots: changed });
    return changed;
  }

  #evaluate(machineId: string, slot: number): void {
    const entry = this.#o.catalogue.slot(machineId, slot);
    const level = this.level(machineId, slot);
    if (!entry) return;
    const { conditions } = this.#o;
    const key = { machineId, slot };
    conditions.set(
      { kind: 'sold_out', ...key, severity: 'critical', detail: `slot ${slot} is empty` },
      level === 0,
    );
    conditions.set(
      {
        kind: 'low_stock',
        ...key,
        severity: 'warning',
        detail: `slot ${slot} has ${level} left (low at ${entry.lowStockAt})`,
      },
      level !== null && level > 0 && level <= entry.lowStockAt,
    );
  }
}
