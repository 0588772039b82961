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

import type { Statement } from 'better-sqlite3';
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
  /**
   * The most often senseAfterVend reads one machine's sensed stock, in ms;
   * default SENSE_AFTER_VEND_EVERY_MS. 0 reads after every vend.
   */
  senseAfterVendEveryMs?: number;
  /**
   * The most often one machine's vends append `stock.changed`, in ms;
   * default VEND_STOCK_EVENT_EVERY_MS. 0 appends one per vend.
   */
  vendEventEveryMs?: number;
  /** Wakes the platform link once an event is queued outside anyone's transaction (a deferred `stock.changed`). */
  notify?: () => void;
}

/**
 * Default of `vendEventEveryMs`. `stock.changed` is telemetry that carries
 * the current level of its slots, so a later one supersedes an earlier one
 * (docs/contract.md): a lone vend appends it in its outcome's transaction as
 * ever, and the vends of a burst on the same machine within this long share
 * one, appended once it has passed with the levels as they are then, instead
 * of one signed event per vend (a third of a remote-vend order's events).
 * Every count still commits in its vend's own transaction.
 */
export const VEND_STOCK_EVENT_EVERY_MS = 1000;

/**
 * Default of `senseAfterVendEveryMs`. A burst of vends on one machine (orders
 * queued behind each other) would otherwise put a GET_STOCK and its STOCK
 * page on the link, and a `stock.changed` upstream, after every one of them:
 * each vend's count already lands in its outcome's transaction, and the
 * reading only confirms it (or corrects a drop-sensor miss), so one reading a
 * second, after the last vend of the burst, says the same.
 */
export const SENSE_AFTER_VEND_EVERY_MS = 1000;

interface LevelRow {
  machine_id: string;
  slot: number;
  level: number | null;
  source: 'sensed' | 'counted';
}

/** senseAfterVend's state for one machine: when it may read next, and whether a reading is due or on the link. */
interface AfterVendRead {
  next: number;
  state: 'idle' | 'waiting' | 'running';
  /** A vend ended while the reading was on the link. */
  again: boolean;
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
  // Prepared once: countOutcome runs in every vend outcome's transaction, and
  // preparing a statement per call cost more than running it (profile of the
  // remote-vend bench: 3% of the gateway's CPU in better-sqlite3's prepare).
  readonly #all: Statement<[], LevelRow>;
  readonly #one: Statement<[string, number], { level: number | null }>;
  readonly #upsert: Statement<[string, number, number, 'sensed' | 'counted', number]>;
  readonly #takeOne: Statement<[number, string, number], { level: number }>;
  /** Per machine: when a vend may next append `stock.changed` at once, and the slots whose event waits. */
  readonly #vendEvents = new Map<string, { next: number; waiting: Set<number>; timer: boolean }>();
  /** Per machine: when senseAfterVend may read next, and the read it has scheduled or running. */
  readonly #afterVend = new Map<string, AfterVendRead>();

  constructor(opts: StockKeeperOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    this.#all = opts.db.prepare('SELECT machine_id, slot, level, source FROM stock_levels');
    this.#one = opts.db.prepare('SELECT level FROM stock_levels WHERE machine_id = ? AND slot = ?');
    this.#upsert = opts.db.prepare(
      `INSERT INTO stock_levels (machine_id, slot, level, source, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (machine_id, slot) DO UPDATE SET level = excluded.level, source = excluded.source,
         updated_at = excluded.updated_at`,
    );
    // A dispensed vend in one statement: only a known level above 0 moves (NULL > 0 is not true).
    this.#takeOne = opts.db.prepare(
      `UPDATE stock_levels SET level = level - 1, source = 'counted', updated_at = ?
       WHERE machine_id = ? AND slot = ? AND level > 0 RETURNING level`,
    );
    this.#reload();
  }

  /** The levels as stored: at start, and after a write that did not commit (a full disk). */
  #reload(): void {
    this.#levels.clear();
    const rows = this.#all.all();
    for (const r of rows) this.#mapOf(r.machine_id).set(r.slot, { level: r.level, source: r.source });
  }

  /** The level the store holds now, inside the caller's transaction. */
  #storedLevel(machineId: string, slot: number): number | null {
    const row = this.#one.get(machineId, slot);
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
    if (outcome.kind === 'dispensed') {
      const row = this.#takeOne.get(this.#now(), machineId, slot);
      if (!row) return; // unknown or already 0: nothing moved
      this.#stored(machineId, [{ slot, level: row.level }], 'counted');
    } else {
      // A failed vend moves the level only when the controller says the slot is empty.
      if (outcome.reason !== 'empty-slot' || this.#storedLevel(machineId, slot) === 0) return;
      this.#write(machineId, [{ slot, level: 0 }], 'counted');
    }
    // A test vend answers its command: its event always goes with it.
    if (cause === 'vend' && this.#deferVendEvent(machineId, slot)) return;
    this.#append(machineId, cause, [slot], commandId === undefined ? {} : { commandId });
  }

  /**
   * True when the vend's `stock.changed` waits (another vend of the machine
   * appended one less than `vendEventEveryMs` ago): it is appended with the
   * others of the burst once that has passed. False: append it now.
   */
  #deferVendEvent(machineId: string, slot: number): boolean {
    const every = this.#o.vendEventEveryMs ?? VEND_STOCK_EVENT_EVERY_MS;
    if (every <= 0) return false;
    let e = this.#vendEvents.get(machineId);
    if (!e) {
      e = { next: 0, waiting: new Set(), timer: false };
      this.#vendEvents.set(machineId, e);
    }
    const now = this.#now();
    // Clamped: a wall clock set back must not hold the event for longer than the interval.
    const wait = Math.min(every, e.next - now);
    if (wait <= 0 && !e.timer) {
      e.next = now + every;
      return false;
    }
    e.waiting.add(slot);
    if (!e.timer) {
      e.timer = true;
      const state = e;
      setTimeout(() => this.#appendWaiting(machineId, state), wait).unref();
    }
    return true;
  }

  /** The burst's `stock.changed`, in a transaction of its own, with the levels as they are now. */
  #appendWaiting(machineId: string, e: { next: number; waiting: Set<number>; timer: boolean }): void {
    e.timer = false;
    e.next = this.#now() + (this.#o.vendEventEveryMs ?? VEND_STOCK_EVENT_EVERY_MS);
    const slots = [...e.waiting];
    e.waiting.clear();
    if (slots.length === 0) return;
    try {
      inTx(this.#o.db, () => this.#append(machineId, 'vend', slots, {}));
    } catch (err) {
      // Telemetry: the counts are stored; the next change brings the levels again.
      this.#o.log.warn({ machineId, err: (err as Error).message }, 'could not queue the stock levels');
      return;
    }
    this.#o.notify?.();
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

  /**
   * After a vend: reads the sensed stock (sense()) once the current turn of
   * the event loop has ended, or, when the machine was read after a vend
   * less than `senseAfterVendEveryMs` ago, once that long has passed since.
   * Vends meanwhile share that one reading, which starts after the last of
   * them. `done` is told whether it changed a level.
   */
  senseAfterVend(machineId: string, done: (changed: boolean) => void = () => {}): void {
    if (!this.sensed(machineId)) return;
    let s = this.#afterVend.get(machineId);
    if (!s) {
      s = { next: 0, state: 'idle', again: false };
      this.#afterVend.set(machineId, s);
    }
    // Waiting: that reading starts after this vend, so it covers it.
    if (s.state === 'waiting') return;
    // On the link: its page may predate this vend, so one more follows it.
    if (s.state === 'running') {
      s.again = true;
      return;
    }
    this.#scheduleSense(machineId, s, done);
  }

  #scheduleSense(machineId: string, s: AfterVendRead, done: (changed: boolean) => void): void {
    s.state = 'waiting';
    const every = this.#o.senseAfterVendEveryMs ?? SENSE_AFTER_VEND_EVERY_MS;
    const run = () => {
      s.state = 'running';
      s.next = this.#now() + every;
      void this.sense(machineId).then((changed) => {
        s.state = 'idle';
        if (s.again) {
          s.again = false;
          this.#scheduleSense(machineId, s, done);
        }
        done(changed);
      });
    };
    // Clamped: a wall clock set back must not hold the next reading for longer than the interval.
    const wait = Math.min(every, s.next - this.#now());
    if (wait <= 0) setImmediate(run);
    else setTimeout(run, wait).unref();
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
    const now = this.#now();
    for (const l of levels) this.#upsert.run(machineId, l.slot, l.level, source, now);
    this.#stored(machineId, levels, source);
    // A reading's own event reports these slots: a vend event waiting need not repeat them.
    const waiting = this.#vendEvents.get(machineId)?.waiting;
    if (waiting && source === 'sensed') for (const l of levels) waiting.delete(l.slot);
  }

  /** Levels just written to the store: into the cache, and their conditions raised or cleared. */
  #stored(
    machineId: string,
    levels: ReadonlyArray<{ slot: number; level: number }>,
    source: 'sensed' | 'counted',
  ): void {
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
