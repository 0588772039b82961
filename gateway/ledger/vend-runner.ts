import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import type { VendingMachine } from '../../devices/vending/port.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import type { BeginResult, OrderLedger, OrderRecord } from './ledger.ts';

type Begun = Extract<BeginResult, { kind: 'dispense' }>;

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
  now?: () => number;
  /** Called after every ledger change, so the platform link can drain the outbox. */
  onChange?: () => void;
  /**
   * Shares one commit among the ledger writes of every machine in the same
   * event-loop turn. Without it each write commits on its own.
   */
  commits?: GroupCommit;
}

/**
 * Drives paid orders to the machines, one vend at a time per machine (a
 * controller dispenses one product at a time), and resolves vends whose
 * outcome was lost by asking the controller, never by dispensing again blind
 * (README, "How it works": exactly once).
 */
export class VendRunner {
  readonly #opts: Required<Omit<VendRunnerOptions, 'onChange' | 'commits'>> & { onChange: () => void };
  readonly #commits: GroupCommit | undefined;
  readonly #queues = new Map<string, string[]>();
  /** Orders whose dispense intent was written in the transaction that recorded them (submitPaid). */
  readonly #begun = new Map<string, Begun>();
  readonly #running = new Set<string>();
  readonly #idleWaiters: Array<() => void> = [];
  #stopped = false;

  constructor(opts: VendRunnerOptions) {
    this.#opts = {
      resolveTimeoutMs: 10 * 60_000,
      retryDelayMs: 250,
      now: Date.now,
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
    if (this.#commits) return this.#commits.run(work);
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

  /** Resumes after a restart: first resolve in-flight vends, then the orders still waiting. */
  recover(): { resolving: number; queued: number } {
    const inFlight = this.#opts.ledger.inFlight();
    const queued = this.#opts.ledger.queued();
    for (const o of inFlight) this.submit(o.orderId, o.machineId);
    for (const o of queued) this.submit(o.orderId, o.machineId);
    return { resolving: inFlight.length, queued: queued.length };
  }

  /**
   * For an order just recorded as `received`, called INSIDE the transaction
   * that recorded it: when its machine is online and idle, the dispense
   * intent is written in that same transaction, so the order costs one
   * commit instead of two and the DISPENSE frame goes out right after it.
   * Otherwise the order is queued as by submit().
   */
  submitPaid(orderId: string, machineId: string): void {
    const machine = this.#opts.machines.get(machineId);
    if (machine?.online && !this.#running.has(machineId) && !this.#stopped) {
      try {
        // Its own savepoint: if it throws, the order stays recorded and queued.
        const begin = this.#opts.ledger.beginDispense(orderId);
        if (begin.kind === 'dispense') this.#begun.set(orderId, begin);
        else return; // settled (refunded as expired) in the same transaction
      } catch (err) {
        this.#opts.log.error({ err, orderId, machineId }, 'could not begin the vend with the order; queued');
      }
    }
    this.submit(orderId, machineId);
  }

  submit(orderId: string, machineId: string): void {
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

  get pending(): number {
    let n = 0;
    for (const q of this.#queues.values()) n += q.length;
    return n + this.#running.size;
  }

  stop(): void {
    this.#stopped = true;
  }

  async #drain(machineId: string): Promise<void> {
    const q = this.#queues.get(machineId)!;
    try {
      while (q.length > 0 && !this.#stopped) {
        const orderId = q.shift()!;
        try {
          await this.#process(machineId, orderId);
        } catch (err) {
          // A bug, not a device fault: the order stays in the ledger in its
          // current state and is picked up again by recover() on restart.
          this.#opts.log.error({ err, orderId, machineId }, 'vend processing failed unexpectedly');
        }
      }
    } finally {
      this.#running.delete(machineId);
      if (this.#running.size === 0) for (const w of this.#idleWaiters.splice(0)) w();
    }
  }

  async #process(machineId: string, orderId: string): Promise<void> {
    const { ledger, log } = this.#opts;
    const machine = this.#opts.machines.get(machineId);
    const begun = this.#begun.get(orderId);
    if (begun) {
      this.#begun.delete(orderId);
      // Only on what the store says: had the recording transaction rolled
      // back, there would be no committed intent and no byte may go out.
      const now = ledger.get(orderId);
      if (machine && now?.state === 'dispensing' && now.vendToken === begun.vendToken) {
        await this.#dispense(machine, machineId, orderId, begun);
        return;
      }
    }
    const order = ledger.get(orderId);
    if (!order || !machine) {
      log.error({ orderId, machineId }, 'order or machine vanished; left for recovery');
      return;
    }
    if (order.state === 'dispensing') {
      await this.#resolve(machine, order);
      return;
    }
    // A timer can fire a millisecond before the wall clock reaches the
    // expiry, so wait again until the machine is back or the order expired.
    while (!(await this.#waitOnline(machine, order.expiresAt))) {
      if (this.#stopped) return; // still `received`: recover() picks it up
      if (this.#opts.now() >= order.expiresAt) {
        // Offline until the order expired: beginDispense refunds it below.
        log.warn({ orderId, machineId }, 'machine stayed offline until the order expired');
        break;
      }
    }
    const begin = await this.#persist('the vend intent', orderId, () => ledger.beginDispense(orderId));
    this.#opts.onChange();
    if (!begin || begin.kind === 'settled') return;
    await this.#dispense(machine, machineId, orderId, begin);
  }

  /** The intent is committed: send the vend and record what the controller says. */
  async #dispense(machine: VendingMachine, machineId: string, orderId: string, begin: Begun): Promise<void> {
    const { ledger, log } = this.#opts;
    try {
      const outcome = await machine.dispense({ vendToken: begin.vendToken, slot: begin.order.slot });
      await this.#persist('the vend outcome', orderId, () => ledger.recordOutcome(orderId, outcome));
      this.#opts.onChange();
    } catch (err) {
      log.warn(
        { orderId, machineId, err: (err as Error).message },
        'vend outcome unknown; asking the controller',
      );
      await this.#resolve(machine, ledger.get(orderId)!);
    }
  }

  async #resolve(machine: VendingMachine, order: OrderRecord): Promise<void> {
    const { ledger, log, retryDelayMs } = this.#opts;
    const token = order.vendToken;
    if (token === null) throw new Error(`order ${order.orderId} is dispensing without a vend token`);
    const deadline = this.#opts.now() + this.#opts.resolveTimeoutMs;
    while (!this.#stopped) {
      const left = deadline - this.#opts.now();
      if (left <= 0) break;
      if (!(await this.#waitOnline(machine, deadline))) break;
      try {
        const q = await machine.queryVend(token);
        if (q.kind === 'dispensed' || q.kind === 'failed') {
          await this.#persist('the vend outcome', order.orderId, () =>
            ledger.recordOutcome(order.orderId, q),
          );
          this.#opts.onChange();
          log.info({ orderId: order.orderId, outcome: q.kind }, 'vend resolved by asking the controller');
          return;
        }
        if (q.kind === 'never-seen') {
          if (order.expiresAt <= this.#opts.now()) {
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
          // The controller confirms it never saw this token, so sending it
          // again is not blind; the same token keeps it idempotent.
          const outcome = await machine.dispense({ vendToken: token, slot: order.slot });
          await this.#persist('the vend outcome', order.orderId, () =>
            ledger.recordOutcome(order.orderId, outcome),
          );
          this.#opts.onChange();
          return;
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

  /** Waits until the machine is online or `until` passes. */
  async #waitOnline(machine: VendingMachine, until: number): Promise<boolean> {
    if (machine.online) return true;
    return new Promise<boolean>((resolve) => {
      const onOnline = () => finish(true);
      // Clamped: setTimeout fires at once for delays past 2^31-1 ms.
      const timer = setTimeout(
        () => finish(false),
        Math.min(0x7fff_ffff, Math.max(0, until - this.#opts.now())),
      );
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
