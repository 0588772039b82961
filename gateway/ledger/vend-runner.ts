import { setTimeout as sleep } from 'node:timers/promises';
import type { OrderState } from '../../contract/events.ts';
import { type Clock, systemClock, toMonoDeadline } from '../../core/clock.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import type { Money } from '../../core/money.ts';
import type {
  VendFailureReason,
  VendingMachine,
  VendOutcome,
  VendQueryResult,
} from '../../devices/vending/port.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import type { BeginResult, OrderLedger, OrderRecord } from './ledger.ts';

type Begun = Extract<BeginResult, { kind: 'dispense' }>;

/**
 * Where one order's vend is, for whoever shows it (the machine's payment
 * display): `dispensing` once its intent is committed and the DISPENSE goes
 * out, then `done` or `failed` once the controller's outcome is recorded
 * (`refund`: what the ledger refunds, the price paid). An order reported for
 * reconciliation gets no final stage: nobody knows yet what happened.
 */
export type VendStage =
  | { stage: 'dispensing'; orderId: string; machineId: string; slot: number }
  | { stage: 'done'; orderId: string; machineId: string; slot: number }
  | {
      stage: 'failed';
      orderId: string;
      machineId: string;
      slot: number;
      reason: VendFailureReason;
      refund: Money;
    };

/** The longest pause between two tries of a write that failed because of the store. */
const MAX_PERSIST_DELAY_MS = 30_000;

/** better-sqlite3 errors carry SQLite's result code (SQLITE_FULL, SQLITE_IOERR_WRITE, ...). */
function isStoreFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_');
}

export interface VendRunnerOptions {
  ledger: OrderLedger;
  machines: ReadonlyMap<string, VendingMachine>;
  log: Log;
  /** How long to keep asking an unreachable controller before reporting for reconciliation. */
  resolveTimeoutMs?: number;
  /** Pause between attempts to reach a controller while resolving. */
  retryDelayMs?: number;
  /**
   * Every duration here (an order's remaining life, the resolve timeout) is
   * measured on `clock.monoMs()`, so setting the wall clock moves none of
   * them. Default the system clock.
   */
  clock?: Clock;
  /** Called after every ledger change, so the platform link can drain the outbox. */
  onChange?: () => void;
  /** Every vend outcome a controller reported, once recorded (telemetry: jams clear or raise faults). */
  onOutcome?: (machineId: string, outcome: VendOutcome) => void;
  /** Every stage of the vends this runner drives (the remote-vend display follows its own orders). */
  onStage?: (stage: VendStage) => void;
  /**
   * Shares one commit among the ledger writes of every machine in the same
   * event-loop turn. Without it each write commits on its own.
   */
  commits?: GroupCommit;
}

/** What the runner knows of a vend's last DISPENSE beyond the ledger: whether the controller acknowledged it. */
interface VendTrace {
  acknowledged: boolean;
  ackEpoch?: number;
}

/**
 * Drives paid orders to the machines, one vend at a time per machine (a
 * controller dispenses one product at a time), and resolves vends whose
 * outcome was lost by asking the controller, never by dispensing again blind
 * (README, "How it works": exactly once).
 *
 * "Never seen" from the controller allows sending the same token again only
 * when it proves the controller received nothing: the same boot of the
 * controller that was there when the intent was committed (the boot epoch
 * kept with the intent, docs/protocols/slot-board.md section 6.1), and it
 * never acknowledged that DISPENSE. Otherwise the controller may have
 * dispensed and forgotten (a restart that lost its memory): the order is
 * reported for reconciliation (`order.unresolved`).
 *
 * An order's remaining life is a monotonic deadline taken once, when the
 * order is submitted (toMonoDeadline of its `expiresAt`), or on recover()
 * from the stored wall deadline: a wall clock set back after that does not
 * let an order dispense late.
 */
export class VendRunner {
  readonly #opts: Required<Omit<VendRunnerOptions, 'onChange' | 'commits' | 'onOutcome' | 'onStage'>> & {
    onChange: () => void;
  } & Pick<VendRunnerOptions, 'onOutcome' | 'onStage'>;
  readonly #commits: GroupCommit | undefined;
  /** Orders' monotonic deadlines, taken on receipt (or on recovery). */
  readonly #deadlines = new Map<string, number>();
  readonly #queues = new Map<string, string[]>();
  /** Orders whose dispense intent was written in the transaction that recorded them (submitPaid). */
  readonly #begun = new Map<string, Begun>();
  readonly #running = new Set<string>();
  readonly #idleWaiters: Array<() => void> = [];
  /** Who waits for one machine to have no vend queued or running (management commands). */
  readonly #machineWaiters = new Map<string, Array<() => void>>();
  #stopped = false;

  constructor(opts: VendRunnerOptions) {
    this.#opts = {
      resolveTimeoutMs: 10 * 60_000,
      retryDelayMs: 250,
      clock: systemClock,
      onChange: () => {},
      ...opts,
    };
    this.#commits = opts.commits;
  }

  /**
   * Runs a ledger write and resolves once it is durable: every caller acts
   * on the result (a DISPENSE frame, an event published) only after that.
   */
  #write<T>(work: () => T): Promise<T> {
    // Every write here is one ledger method, each its own inTx: no savepoint around it.
    if (this.#commits) return this.#commits.run(work, { ownSavepoint: true });
    try {
      return Promise.resolve(work());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Like #write, for what must not be lost: the outcome a controller
   * reported, or what was decided about an order already under way. A write
   * that fails because of the store (a full disk, SQLITE_FULL; an I/O error)
   * is kept in memory and tried again with backoff until it is durable, so
   * the order never leaves `dispensing` without its outcome and never stays
   * there for good because one commit failed. Resolves undefined only if the
   * runner stopped first: the order is still `dispensing` on disk and
   * recover() asks the controller after the restart. Other errors (bugs)
   * are thrown at once.
   */
  async #persist<T>(what: string, orderId: string, work: () => T): Promise<T | undefined> {
    let delay = this.#opts.retryDelayMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#write(work);
      } catch (err) {
        if (!isStoreFailure(err)) throw err;
        if (this.#stopped) return undefined;
        this.#opts.log.error(
          { orderId, code: (err as { code?: unknown }).code, attempt, retryInMs: delay },
          `could not record ${what}; kept in memory and retried until it is written`,
        );
        await sleep(delay);
        if (this.#stopped) return undefined;
        delay = Math.min(delay * 2, MAX_PERSIST_DELAY_MS);
      }
    }
  }

  /**
   * Resumes after a restart: first resolve in-flight vends, then the orders
   * still waiting. Their monotonic deadlines are recomputed from the stored
   * wall deadlines (the monotonic clock of the previous process is gone).
   */
  recover(): { resolving: number; queued: number } {
    const inFlight = this.#opts.ledger.inFlight();
    const queued = this.#opts.ledger.queued();
    for (const o of inFlight) this.submit(o.orderId, o.machineId, o.expiresAt);
    for (const o of queued) this.submit(o.orderId, o.machineId, o.expiresAt);
    return { resolving: inFlight.length, queued: queued.length };
  }

  /**
   * For an order just recorded as `received`, called INSIDE the transaction
   * that recorded it: when its machine is online and idle, the dispense
   * intent is written in that same transaction, so the order costs one
   * commit instead of two and the DISPENSE frame goes out right after it.
   * Otherwise the order is queued as by submit().
   *
   * `recorded`: the order as receivePaid returned it in that transaction;
   * it saves reading the order back (its deadline, and beginDispense's read).
   */
  submitPaid(orderId: string, machineId: string, recorded?: OrderRecord): void {
    const known = recorded?.orderId === orderId ? recorded : undefined;
    this.#noteDeadline(orderId, known?.expiresAt);
    const machine = this.#opts.machines.get(machineId);
    if (machine?.online && !this.#running.has(machineId) && !this.#stopped && !this.#expired(orderId)) {
      try {
        // Its own savepoint: if it throws, the order stays recorded and queued.
        const begin = this.#opts.ledger.beginDispense(orderId, {
          boardEpoch: machine.bootEpoch,
          ...(known ? { recorded: known } : {}),
        });
        if (begin.kind === 'dispense') this.#begun.set(orderId, begin);
        else return; // settled (refunded as expired) in the same transaction
      } catch (err) {
        this.#opts.log.error({ err, orderId, machineId }, 'could not begin the vend with the order; queued');
      }
    }
    this.submit(orderId, machineId);
  }

  /**
   * Queues an order for its machine. Call it on receipt: the order's
   * remaining life is fixed here as a monotonic deadline, from `expiresAt`
   * (its wall deadline; read from the ledger when not given).
   */
  submit(orderId: string, machineId: string, expiresAt?: number): void {
    this.#noteDeadline(orderId, expiresAt);
    let q = this.#queues.get(machineId);
    if (!q) {
      q = [];
      this.#queues.set(machineId, q);
    }
    q.push(orderId);
    if (this.#running.has(machineId)) return;
    this.#running.add(machineId);
    // Deferred to a microtask: submit() may be called inside the transaction
    // that records the order, and no byte may reach a controller before that
    // transaction has committed.
    queueMicrotask(() => void this.#drain(machineId));
  }

  /** Resolves once no order is queued or running (tests, benchmarks, shutdown). */
  idle(): Promise<void> {
    if (this.#running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Whether a vend is queued or running on the machine, or a management action holds it. */
  busy(machineId: string): boolean {
    return this.#running.has(machineId);
  }

  /**
   * Runs `work` once no vend is queued or running on the machine, and holds
   * the machine while it runs: an order that arrives meanwhile is recorded
   * and queued, and is dispensed after `work` settles (never during a board
   * reset or a catalogue change). Rejects, without running `work`, when
   * `signal` aborts first.
   */
  async exclusive<T>(machineId: string, work: () => Promise<T> | T, signal?: AbortSignal): Promise<T> {
    while (this.#running.has(machineId)) {
      signal?.throwIfAborted();
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        signal?.addEventListener('abort', onAbort, { once: true });
        let list = this.#machineWaiters.get(machineId);
        if (!list) {
          list = [];
          this.#machineWaiters.set(machineId, list);
        }
        list.push(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    }
    signal?.throwIfAborted();
    this.#running.add(machineId);
    try {
      return await work();
    } finally {
      this.#running.delete(machineId);
      const q = this.#queues.get(machineId);
      if (q && q.length > 0) {
        this.#running.add(machineId);
        queueMicrotask(() => void this.#drain(machineId));
      } else {
        this.#wakeMachine(machineId);
      }
    }
  }

  #wakeMachine(machineId: string): void {
    const waiters = this.#machineWaiters.get(machineId);
    if (waiters) {
      this.#machineWaiters.delete(machineId);
      for (const w of waiters) w();
    }
    if (this.#running.size === 0) for (const w of this.#idleWaiters.splice(0)) w();
  }

  get pending(): number {
    let n = 0;
    for (const q of this.#queues.values()) n += q.length;
    return n + this.#running.size;
  }

  stop(): void {
    this.#stopped = true;
  }

  #noteDeadline(orderId: string, expiresAt: number | undefined): void {
    if (this.#deadlines.has(orderId)) return;
    const wall = expiresAt ?? this.#opts.ledger.get(orderId)?.expiresAt;
    if (wall !== undefined) this.#deadlines.set(orderId, toMonoDeadline(this.#opts.clock, wall));
  }

  /** The order's monotonic deadline (taken on receipt; recomputed if it was never noted). */
  #deadline(order: OrderRecord): number {
    let d = this.#deadlines.get(order.orderId);
    if (d === undefined) {
      d = toMonoDeadline(this.#opts.clock, order.expiresAt);
      this.#deadlines.set(order.orderId, d);
    }
    return d;
  }

  #expired(orderId: string): boolean {
    const d = this.#deadlines.get(orderId);
    return d !== undefined && this.#opts.clock.monoMs() >= d;
  }

  #mono(): number {
    return this.#opts.clock.monoMs();
  }

  async #drain(machineId: string): Promise<void> {
    const q = this.#queues.get(machineId)!;
    try {
      while (q.length > 0 && !this.#stopped) {
        const orderId = q.shift()!;
        try {
          // The state the vend left the order in, as recorded; read back only when not known.
          const settled = (await this.#process(machineId, orderId)) ?? this.#opts.ledger.get(orderId)?.state;
          if (settled !== 'received' && settled !== 'dispensing') this.#deadlines.delete(orderId);
        } catch (err) {
          // A bug, not a device fault: the order stays in the ledger in its
          // current state and is picked up again by recover() on restart.
          this.#opts.log.error({ err, orderId, machineId }, 'vend processing failed unexpectedly');
        }
      }
    } finally {
      this.#running.delete(machineId);
      this.#wakeMachine(machineId);
    }
  }

  /** Resolves with the order's state as the vend recorded it, or undefined when that is not at hand. */
  async #process(machineId: string, orderId: string): Promise<OrderState | undefined> {
    const { ledger, log } = this.#opts;
    const machine = this.#opts.machines.get(machineId);
    const begun = this.#begun.get(orderId);
    if (begun) {
      this.#begun.delete(orderId);
      // Only on what the store says: had the recording transaction rolled
      // back, there would be no committed intent and no byte may go out.
      const now = ledger.get(orderId);
      if (machine && now?.state === 'dispensing' && now.vendToken === begun.vendToken) {
        return this.#dispense(machine, machineId, orderId, begun);
      }
    }
    const order = ledger.get(orderId);
    if (!order || !machine) {
      log.error({ orderId, machineId }, 'order or machine vanished; left for recovery');
      return;
    }
    if (order.state === 'dispensing') {
      await this.#resolve(machine, order, { acknowledged: false });
      return;
    }
    const deadline = this.#deadline(order);
    while (!(await this.#waitOnline(machine, deadline))) {
      if (this.#stopped) return; // still `received`: recover() picks it up
      if (this.#mono() >= deadline) break;
    }
    if (this.#mono() >= deadline) {
      // By the monotonic clock, whatever the wall clock says now (it may have been set back).
      log.warn({ orderId, machineId }, 'the order expired before its machine could dispense it');
      await this.#persist('the refund', orderId, () =>
        ledger.refundNeverDispensed(
          orderId,
          ErrorCode.OrderExpired,
          'the paid order expired before it could be dispensed',
        ),
      );
      this.#opts.onChange();
      return;
    }
    // The order as just read: only this runner moves a received order, one
    // vend at a time per machine, so beginDispense need not read it again
    // (its guarded UPDATE still refuses an order that changed state).
    const begin = await this.#persist('the vend intent', orderId, () =>
      ledger.beginDispense(orderId, { boardEpoch: machine.bootEpoch, recorded: order }),
    );
    this.#opts.onChange();
    if (!begin || begin.kind === 'settled') return begin?.order.state;
    return this.#dispense(machine, machineId, orderId, begin);
  }

  /** The intent is committed: send the vend and record what the controller says. */
  async #dispense(
    machine: VendingMachine,
    machineId: string,
    orderId: string,
    begin: Begun,
  ): Promise<OrderState | undefined> {
    const { ledger, log } = this.#opts;
    this.#stage({ stage: 'dispensing', orderId, machineId, slot: begin.order.slot });
    try {
      const outcome = await machine.dispense({ vendToken: begin.vendToken, slot: begin.order.slot });
      const after = await this.#persist('the vend outcome', orderId, () =>
        ledger.recordOutcome(orderId, outcome),
      );
      this.#opts.onChange();
      this.#told(machineId, outcome, after);
      return after?.state;
    } catch (err) {
      log.warn(
        { orderId, machineId, err: (err as Error).message },
        'vend outcome unknown; asking the controller',
      );
      await this.#resolve(machine, ledger.get(orderId)!, traceOf(err, { acknowledged: false }));
      return undefined;
    }
  }

  async #resolve(machine: VendingMachine, order: OrderRecord, trace: VendTrace): Promise<void> {
    const { ledger, log, retryDelayMs } = this.#opts;
    const token = order.vendToken;
    if (token === null) throw new Error(`order ${order.orderId} is dispensing without a vend token`);
    const deadline = this.#mono() + this.#opts.resolveTimeoutMs;
    while (!this.#stopped) {
      if (deadline - this.#mono() <= 0) break;
      if (!(await this.#waitOnline(machine, deadline))) break;
      try {
        const q = await machine.queryVend(token);
        if (q.kind === 'dispensed' || q.kind === 'failed') {
          const after = await this.#persist('the vend outcome', order.orderId, () =>
            ledger.recordOutcome(order.orderId, q),
          );
          this.#opts.onChange();
          this.#told(order.machineId, q, after);
          log.info({ orderId: order.orderId, outcome: q.kind }, 'vend resolved by asking the controller');
          return;
        }
        if (q.kind === 'never-seen') {
          const doubt = neverSeenDoubt(order, q, trace, machine);
          if (doubt) {
            log.warn(
              { orderId: order.orderId, vendToken: token, reason: doubt },
              'vend reported for reconciliation',
            );
            await this.#persist('the reconciliation report', order.orderId, () =>
              ledger.markUnresolved(order.orderId, doubt),
            );
            this.#opts.onChange();
            return;
          }
          if (this.#mono() >= this.#deadline(order)) {
            await this.#persist('the refund', order.orderId, () =>
              ledger.refundNeverDispensed(
                order.orderId,
                ErrorCode.OrderExpired,
                'the controller never received the vend and the order has expired',
              ),
            );
            this.#opts.onChange();
            return;
          }
          // The same boot of the controller confirms it never received this
          // token, so sending it again is not blind; the same token keeps it
          // idempotent.
          try {
            const outcome = await machine.dispense({ vendToken: token, slot: order.slot });
            const after = await this.#persist('the vend outcome', order.orderId, () =>
              ledger.recordOutcome(order.orderId, outcome),
            );
            this.#opts.onChange();
            this.#told(order.machineId, outcome, after);
            return;
          } catch (err) {
            trace = traceOf(err, trace);
            throw err;
          }
        }
        // in-progress: the motor is still running; ask again shortly.
      } catch (err) {
        log.debug(
          { orderId: order.orderId, err: (err as Error).message },
          'controller did not answer; retrying',
        );
      }
      await sleep(retryDelayMs);
    }
    if (this.#stopped) return;
    await this.#persist('the unresolved vend', order.orderId, () =>
      ledger.markUnresolved(
        order.orderId,
        'the controller did not say whether the vend happened before the resolve timeout',
      ),
    );
    this.#opts.onChange();
  }

  /**
   * `after`: the order as recorded with this outcome (undefined if the
   * runner stopped before it was written; then no stage is told, the order
   * is resolved again after the restart).
   */
  #told(machineId: string, outcome: VendOutcome, after: OrderRecord | undefined): void {
    try {
      this.#opts.onOutcome?.(machineId, outcome);
    } catch (err) {
      // An observer's failure is not the vend's: the outcome is recorded.
      this.#opts.log.error({ err, machineId }, 'vend outcome observer failed');
    }
    if (!after) return;
    const order = { orderId: after.orderId, machineId, slot: after.slot };
    this.#stage(
      outcome.kind === 'dispensed'
        ? { stage: 'done', ...order }
        : { stage: 'failed', ...order, reason: outcome.reason, refund: after.price },
    );
  }

  #stage(stage: VendStage): void {
    try {
      this.#opts.onStage?.(stage);
    } catch (err) {
      this.#opts.log.error({ err, orderId: stage.orderId }, 'vend stage observer failed');
    }
  }

  /** Waits until the machine is online or the monotonic time `until` passes. */
  async #waitOnline(machine: VendingMachine, until: number): Promise<boolean> {
    if (machine.online) return true;
    return new Promise<boolean>((resolve) => {
      const onOnline = () => finish(true);
      // Clamped: setTimeout fires at once for delays past 2^31-1 ms.
      const timer = setTimeout(() => finish(false), Math.min(0x7fff_ffff, Math.max(0, until - this.#mono())));
      timer.unref();
      const finish = (v: boolean) => {
        clearTimeout(timer);
        machine.off('online', onOnline);
        resolve(v);
      };
      machine.on('online', onOnline);
    });
  }
}

/** What a dispense rejection says about its DISPENSE (the slot-board driver's context), merged into `trace`. */
function traceOf(err: unknown, trace: VendTrace): VendTrace {
  if (!(err instanceof VendgateError) || err.context?.acknowledged !== true) return trace;
  const ackEpoch = err.context.ackEpoch;
  return typeof ackEpoch === 'number' ? { acknowledged: true, ackEpoch } : { acknowledged: true };
}

/**
 * Why a "never seen" does not prove the controller received nothing, or
 * undefined when it does (docs/protocols/slot-board.md section 6.1).
 */
function neverSeenDoubt(
  order: OrderRecord,
  q: Extract<VendQueryResult, { kind: 'never-seen' }>,
  trace: VendTrace,
  machine: VendingMachine,
): string | undefined {
  const token = order.vendToken;
  if (trace.acknowledged) {
    return `the controller acknowledged vend token ${token}${trace.ackEpoch === undefined ? '' : ` (boot epoch ${trace.ackEpoch})`} and now says it never saw it: it lost its memory of tokens`;
  }
  const recorded = order.boardEpoch;
  if (recorded === null && q.bootEpoch === undefined && machine.bootEpoch === undefined) {
    // A controller that reports no boot identity: its port promises that tokens outlive restarts.
    return undefined;
  }
  if (recorded !== null && q.bootEpoch === recorded) return undefined;
  return `the controller's boot identity changed while vend token ${token} was in flight (epoch ${recorded ?? 'unknown'} when the vend began, ${q.bootEpoch ?? 'unknown'} now): it may have dispensed and forgotten`;
}
