/**
 * Remote management of the machines by signed commands (`catalogue.set`,
 * `stock.refill`, `machine.test_vend`, `machine.reset`) and the operator's
 * refill from the REST API.
 *
 * Each is checked at once (a bad one is refused without waiting), then
 * applied only while no vend is in flight on its machine: it waits for the
 * machine to be idle (at most `waitForIdleMs`, at most `maxWaiting` per
 * machine; then it is refused with 12006) and holds the machine while it
 * runs, so no vend starts during a catalogue change or a board reset. Every
 * outcome goes upstream as an event that says whether it waited.
 */
import type { Statement } from 'better-sqlite3';
import type { CommandData } from '../../contract/commands.ts';
import type { CatalogueSlot, EventData, StockSlot } from '../../contract/events.ts';
import { ErrorCode, type ErrorCodeValue, isVendgateError, VendgateError } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import type { VendingMachine, VendOutcome } from '../../devices/vending/port.ts';
import type { Planogram } from '../catalogue/planogram.ts';
import type { VendRunner } from '../ledger/vend-runner.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { StockKeeper } from '../stock/stock.ts';
import type { Db } from '../store/db.ts';
import { inTx } from '../store/tx.ts';

export const MANAGEMENT_COMMANDS = [
  'catalogue.set',
  'stock.refill',
  'machine.test_vend',
  'machine.reset',
] as const;
export type ManagementCommandType = (typeof MANAGEMENT_COMMANDS)[number];

export function isManagementCommand(type: string): type is ManagementCommandType {
  return (MANAGEMENT_COMMANDS as readonly string[]).includes(type);
}

export interface ManagementOptions {
  db: Db;
  catalogue: Planogram;
  stock: StockKeeper;
  runner: Pick<VendRunner, 'exclusive' | 'busy'>;
  machines: ReadonlyMap<string, VendingMachine>;
  outbox: Pick<Outbox, 'append'>;
  /** Wakes the platform link once events are queued outside a command's transaction. */
  notify: () => void;
  log: Log;
  /** How long a command waits for a vend in flight on its machine. Default 120 s. */
  waitForIdleMs?: number;
  /** Most commands waiting per machine. Default 16. */
  maxWaiting?: number;
  /** How long a test vend or a board reset may take before it is reported failed. Default 60 s. */
  deviceTimeoutMs?: number;
}

export type ManagementResult =
  | { kind: 'applied'; waitedForVend: boolean }
  | { kind: 'refused'; code: ErrorCodeValue; reason: string; waitedForVend: boolean };

type AnyManagementData =
  | CommandData<'catalogue.set'>
  | CommandData<'stock.refill'>
  | CommandData<'machine.test_vend'>
  | CommandData<'machine.reset'>;

export class ManagementService {
  readonly #o: ManagementOptions;
  readonly #waiting = new Map<string, number>();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #nextToken: Statement<[], { value: string }>;

  constructor(opts: ManagementOptions) {
    this.#o = opts;
    // The ledger's own vend-token sequence: a test vend's token must never
    // repeat an order's, or the controller would answer it from its memory.
    opts.db
      .prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('next_vend_token', ?)")
      .run(String(1 + Math.floor(Math.random() * 0xfff0_0000)));
    this.#nextToken = opts.db.prepare(
      "UPDATE meta SET value = CAST((CAST(value AS INTEGER) % 4294967295) + 1 AS TEXT) WHERE key = 'next_vend_token' RETURNING value",
    );
  }

  /**
   * For the command router, inside the command's transaction: a command
   * that needs no wait is applied in it; the rest later. Never throws.
   */
  handle(commandId: string, type: ManagementCommandType, data: AnyManagementData): void {
    const p = this.run(type, data, { commandId }).then(
      () => this.#o.notify(),
      (err: unknown) => this.#o.log.error({ err, commandId }, 'management command failed unexpectedly'),
    );
    this.#inFlight.add(p);
    void p.finally(() => this.#inFlight.delete(p));
  }

  /** Resolves once every command handed to `handle` so far has finished (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** Runs one management command; its outcome is appended as events. */
  async run(
    type: ManagementCommandType,
    data: AnyManagementData,
    meta: { commandId?: string } = {},
  ): Promise<ManagementResult> {
    const { machineId } = data;
    const waitedForVend = this.#o.runner.busy(machineId);
    try {
      this.#precheck(type, data);
      const result = await this.#whenIdle(machineId, () => this.#apply(type, data, meta, waitedForVend));
      return { kind: 'applied', waitedForVend: result };
    } catch (err) {
      if (!isVendgateError(err)) throw err;
      this.#o.log.warn(
        { commandId: meta.commandId, commandType: type, machineId, code: err.code, reason: err.message },
        'management command refused',
      );
      inTx(this.#o.db, () =>
        this.#o.outbox.append('management.refused', {
          ...(meta.commandId === undefined ? {} : { commandId: meta.commandId }),
          commandType: type,
          machineId,
          code: err.code,
          reason: err.message,
          waitedForVend,
        }),
      );
      return { kind: 'refused', code: err.code, reason: err.message, waitedForVend };
    }
  }

  /**
   * The operator's refill (REST): the same rules as `stock.refill`. Resolves
   * with the slots it changed; rejects with the VendgateError that refused it.
   */
  async refill(machineId: string, slot: number | undefined, level: number | undefined): Promise<StockSlot[]> {
    this.#o.stock.checkRefill(machineId, slot, level);
    let changed: StockSlot[] = [];
    const waitedForVend = this.#o.runner.busy(machineId);
    await this.#whenIdle(machineId, () => {
      changed = this.#o.stock.refill(this.#o.stock.checkRefill(machineId, slot, level), { waitedForVend });
    });
    this.#o.notify();
    this.#senseLater(machineId);
    return changed;
  }

  /** Throws the refusal a command gets before any wait: unknown machine or slot, bad values, no such feature. */
  #precheck(type: ManagementCommandType, data: AnyManagementData): void {
    switch (type) {
      case 'catalogue.set': {
        const d = data as CommandData<'catalogue.set'>;
        this.#o.catalogue.check(d.machineId, d.slots);
        return;
      }
      case 'stock.refill': {
        const d = data as CommandData<'stock.refill'>;
        this.#o.stock.checkRefill(d.machineId, d.slot, d.level);
        return;
      }
      case 'machine.test_vend': {
        const d = data as CommandData<'machine.test_vend'>;
        this.#machine(d.machineId, 'a test vend');
        if (!this.#o.catalogue.slot(d.machineId, d.slot)) {
          throw new VendgateError(
            ErrorCode.ManagementSlotUnknown,
            `machine "${d.machineId}" has no slot ${d.slot}`,
            { machineId: d.machineId, slot: d.slot },
          );
        }
        return;
      }
      case 'machine.reset': {
        const machine = this.#machine(data.machineId, 'a board reset');
        if (typeof machine.reset !== 'function') {
          throw new VendgateError(
            ErrorCode.ManagementUnsupported,
            `the driver of machine "${data.machineId}" cannot reset its board (its protocol has no reset)`,
            { machineId: data.machineId },
          );
        }
        return;
      }
    }
  }

  #machine(machineId: string, what: string): VendingMachine {
    const machine = this.#o.machines.get(machineId);
    if (machine) return machine;
    const known = this.#o.catalogue.has(machineId);
    throw new VendgateError(
      known ? ErrorCode.ManagementUnsupported : ErrorCode.ManagementMachineUnknown,
      known
        ? `machine "${machineId}" is a cashless machine: ${what} is for remote-vend machines`
        : `no machine "${machineId}" on this gateway`,
      { machineId },
    );
  }

  /**
   * Runs `work` holding the machine once it is idle, within the wait bound.
   * Resolves with `work`'s result.
   */
  async #whenIdle<T>(machineId: string, work: () => Promise<T> | T): Promise<T> {
    const { runner } = this.#o;
    const waitMs = this.#o.waitForIdleMs ?? 120_000;
    const maxWaiting = this.#o.maxWaiting ?? 16;
    const waiting = this.#waiting.get(machineId) ?? 0;
    if (!runner.busy(machineId)) return runner.exclusive(machineId, work);
    if (waiting >= maxWaiting) {
      throw new VendgateError(
        ErrorCode.ManagementBusy,
        `${waiting} management commands already wait for machine "${machineId}" to finish its vend; send it again later`,
        { machineId, waiting },
      );
    }
    this.#waiting.set(machineId, waiting + 1);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), waitMs);
    try {
      return await runner.exclusive(machineId, work, abort.signal);
    } catch (err) {
      if (abort.signal.aborted && !isVendgateError(err)) {
        throw new VendgateError(
          ErrorCode.ManagementBusy,
          `machine "${machineId}" was still vending after ${waitMs} ms; nothing was changed, send it again later`,
          { machineId, waitMs },
        );
      }
      throw err;
    } finally {
      clearTimeout(timer);
      const left = (this.#waiting.get(machineId) ?? 1) - 1;
      if (left > 0) this.#waiting.set(machineId, left);
      else this.#waiting.delete(machineId);
    }
  }

  /** Applies a checked command while holding its machine. Returns whether it waited for a vend. */
  async #apply(
    type: ManagementCommandType,
    data: AnyManagementData,
    meta: { commandId?: string },
    waitedForVend: boolean,
  ): Promise<boolean> {
    const ids = meta.commandId === undefined ? {} : { commandId: meta.commandId };
    switch (type) {
      case 'catalogue.set': {
        const d = data as CommandData<'catalogue.set'>;
        inTx(this.#o.db, () => {
          const slots: CatalogueSlot[] = this.#o.catalogue.apply(d.machineId, d.slots);
          this.#o.outbox.append('catalogue.changed', {
            machineId: d.machineId,
            ...ids,
            by: 'platform',
            waitedForVend,
            slots,
          });
        });
        this.#o.log.info({ ...ids, machineId: d.machineId, slots: d.slots.length }, 'catalogue changed');
        return waitedForVend;
      }
      case 'stock.refill': {
        const d = data as CommandData<'stock.refill'>;
        this.#o.stock.refill(this.#o.stock.checkRefill(d.machineId, d.slot, d.level), {
          ...ids,
          waitedForVend,
        });
        this.#senseLater(d.machineId);
        return waitedForVend;
      }
      case 'machine.test_vend': {
        await this.#testVend(data as CommandData<'machine.test_vend'>, meta.commandId ?? '', waitedForVend);
        return waitedForVend;
      }
      case 'machine.reset': {
        await this.#reset(data.machineId, meta.commandId ?? '', waitedForVend);
        return waitedForVend;
      }
    }
  }

  async #testVend(d: CommandData<'machine.test_vend'>, commandId: string, waitedForVend: boolean) {
    const machine = this.#machine(d.machineId, 'a test vend');
    const vendToken = Number(this.#nextToken.get()!.value);
    let outcome: VendOutcome | undefined;
    let failure: { code: ErrorCodeValue; reason: string } | undefined;
    try {
      outcome = await this.#bounded(machine.dispense({ vendToken, slot: d.slot }), 'the test vend');
      if (outcome.kind === 'failed') {
        failure = {
          code: ErrorCode.ManagementDeviceFailed,
          reason: `the controller reported ${outcome.reason}${outcome.detail ? ` (${outcome.detail})` : ''}`,
        };
      }
    } catch (err) {
      failure = {
        code: isVendgateError(err) ? err.code : ErrorCode.ManagementDeviceFailed,
        reason: `the test vend's outcome is not known: ${(err as Error).message}`,
      };
    }
    const event: EventData<'machine.test_vend'> = {
      commandId,
      machineId: d.machineId,
      slot: d.slot,
      outcome: outcome?.kind === 'dispensed' ? 'dispensed' : 'failed',
      ...(failure ?? {}),
      waitedForVend,
    };
    inTx(this.#o.db, () => {
      if (outcome) this.#o.stock.countOutcome(d.machineId, outcome, 'test_vend', commandId || undefined);
      this.#o.outbox.append('machine.test_vend', event);
    });
    this.#o.log.info(
      { commandId, machineId: d.machineId, slot: d.slot, outcome: event.outcome },
      'test vend',
    );
    this.#senseLater(d.machineId);
  }

  async #reset(machineId: string, commandId: string, waitedForVend: boolean) {
    const machine = this.#machine(machineId, 'a board reset');
    let failure: { code: ErrorCodeValue; reason: string } | undefined;
    try {
      // precheck made sure it exists; checked again because the machine may be swapped in tests.
      if (!machine.reset) throw new VendgateError(ErrorCode.ManagementUnsupported, 'the driver cannot reset');
      await this.#bounded(machine.reset(), 'the board reset');
    } catch (err) {
      failure = {
        code: isVendgateError(err) ? err.code : ErrorCode.ManagementDeviceFailed,
        reason: `the board reset failed: ${(err as Error).message}`,
      };
    }
    inTx(this.#o.db, () =>
      this.#o.outbox.append('machine.reset', {
        commandId,
        machineId,
        outcome: failure ? 'failed' : 'done',
        ...(failure ?? {}),
        waitedForVend,
      }),
    );
    this.#o.log.info({ commandId, machineId, outcome: failure ? 'failed' : 'done' }, 'board reset');
    this.#senseLater(machineId);
  }

  /** A device call that must not hold the machine forever. */
  #bounded<T>(p: Promise<T>, what: string): Promise<T> {
    const ms = this.#o.deviceTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new VendgateError(ErrorCode.ManagementDeviceFailed, `${what} took longer than ${ms} ms`)),
        ms,
      );
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  /** After a vend, refill or reset, reads the sensed stock where the machine can say (after the holding ends). */
  #senseLater(machineId: string): void {
    if (!this.#o.stock.sensed(machineId)) return;
    setImmediate(() => {
      void this.#o.stock.sense(machineId).then((changed) => {
        if (changed) this.#o.notify();
      });
    });
  }
}
