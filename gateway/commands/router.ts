/**
 * Routes every command the platform link accepted (signature, freshness and
 * replay already checked by the command guard) to the part that owns it:
 * campaign and claim commands to the coupon engine, `order.paid` for a
 * select-then-pay session to the cashless flow, any other `order.paid` to the
 * ledger and the vend runner, `credit.paid` (pay first, then choose) to the
 * pay-first flow; catalogue, stock and machine commands to the
 * management service.
 *
 * It also decides, for the guard, whether a valid new command can be taken
 * at all (`admit`): a paid order that finds the outbox full of undelivered
 * money events is deferred before its id and nonce are recorded, so the
 * platform's retry of the same signed command is taken once there is room
 * (docs/retry-rules.md). And it answers an identical redelivery of an
 * accepted order with the order's state, without acting again.
 *
 * The link emits 'command' and 'redelivered' inside the command's
 * transaction, so the ledger write and the vend intent share its commit,
 * and the link itself publishes what the command queued once that commit
 * is done.
 */
import type { CommandData } from '../../contract/commands.ts';
import { ErrorCode } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import type { AuditService } from '../audit/service.ts';
import type { CashlessFlow } from '../cashless/flow.ts';
import type { PayFirstFlow } from '../cashless/pay-first.ts';
import type { CouponEngine } from '../coupons/engine.ts';
import type { OrderLedger } from '../ledger/ledger.ts';
import type { VendRunner } from '../ledger/vend-runner.ts';
import type { Deferral } from '../link/command-guard.ts';
import type { AcceptedCommand } from '../link/link.ts';
import type { ManagementService } from '../management/service.ts';

/** What the router needs of the platform link. */
export interface CommandSource {
  on(event: 'command' | 'redelivered', listener: (command: AcceptedCommand) => void): unknown;
  off(event: 'command' | 'redelivered', listener: (command: AcceptedCommand) => void): unknown;
  /** Publishes what was queued outside a command's transaction. */
  notify(): void;
}

export interface CommandRouterOptions {
  link: CommandSource;
  coupons: Pick<CouponEngine, 'applyCommand'>;
  cashless: Pick<CashlessFlow, 'owns' | 'onPaid'>;
  /** Pay first, then choose; without it a `credit.paid` is refunded by nobody, so it is logged as an error. */
  payFirst?: Pick<PayFirstFlow, 'onCredit' | 'reportState'>;
  ledger: Pick<OrderLedger, 'receivePaid' | 'reportState'>;
  runner: Pick<VendRunner, 'submitPaid'>;
  /** Only `saturated` is read: a full outbox of money events defers new orders (see admit). */
  outbox: { readonly saturated: boolean };
  /** The retry hint a deferred order carries. Default 5000 ms. */
  deferRetryAfterMs?: number;
  /**
   * The data directory's free-space reserve: below it a new paid order is
   * deferred (2005 StoreLowOnSpace), so the disk keeps room for the outcomes
   * of what is already in flight.
   */
  disk?: { readonly belowReserve: boolean; state(): { freeBytes: number; reserveBytes: number } };
  /** The retry hint of an order deferred for disk space. Default 60 s. */
  diskRetryAfterMs?: number;
  /** Catalogue, stock and machine commands; without it they are logged and not acted on. */
  management?: Pick<ManagementService, 'handle'>;
  /** DEX audit reads on command (`machine.audit.read`); without it the command is logged and ignored. */
  audit?: Pick<AuditService, 'readNow'>;
  /** For commands that failed. */
  log: Log;
  /** For the decision on each paid order; default `log`. */
  ordersLog?: Log;
}

export class CommandRouter {
  readonly #o: CommandRouterOptions;
  readonly #ordersLog: Log;
  readonly #retryAfterMs: number;
  readonly #listener = (cmd: AcceptedCommand): void => this.#safely(cmd, () => this.route(cmd));
  readonly #redeliveryListener = (cmd: AcceptedCommand): void =>
    this.#safely(cmd, () => this.answerRedelivery(cmd));

  constructor(opts: CommandRouterOptions) {
    this.#o = opts;
    this.#ordersLog = opts.ordersLog ?? opts.log;
    this.#retryAfterMs = opts.deferRetryAfterMs ?? 5000;
  }

  start(): void {
    this.#o.link.on('command', this.#listener);
    this.#o.link.on('redelivered', this.#redeliveryListener);
  }

  stop(): void {
    this.#o.link.off('command', this.#listener);
    this.#o.link.off('redelivered', this.#redeliveryListener);
  }

  /**
   * The guard's capacity check, before a valid new command is recorded. A
   * paid order for the ledger is deferred while the outbox is full of
   * undelivered critical events: taking it would add money events nothing
   * can deliver. A select-then-pay payment is still taken (its customer is
   * at the machine and its session would otherwise close unpaid and be
   * refunded later anyway), as are coupon commands.
   */
  admit(cmd: AcceptedCommand): Deferral | undefined {
    if (cmd.type !== 'order.paid' && cmd.type !== 'credit.paid') return undefined;
    const { cashless, outbox, disk } = this.#o;
    // A pay-first credit has no session yet: deferring it is as safe as deferring a remote order.
    if (cmd.type === 'order.paid' && cashless.owns(cmd.data.orderId, cmd.data.machineId)) return undefined;
    if (disk?.belowReserve) {
      const s = disk.state();
      const retryAfterMs = this.#o.diskRetryAfterMs ?? 60_000;
      this.#ordersLog.error(
        { orderId: cmd.data.orderId, code: ErrorCode.StoreLowOnSpace, freeBytes: s.freeBytes, retryAfterMs },
        'order deferred: the data directory is below its free-space reserve',
      );
      return {
        code: ErrorCode.StoreLowOnSpace,
        reason: `the gateway's data directory has ${s.freeBytes} bytes free, below its reserve of ${s.reserveBytes}; send the same command again later`,
        retryAfterMs,
      };
    }
    if (!outbox.saturated) return undefined;
    this.#ordersLog.warn(
      { orderId: cmd.data.orderId, code: ErrorCode.OutboxFull, retryAfterMs: this.#retryAfterMs },
      'order deferred: the outbox is full of undelivered money events',
    );
    return {
      code: ErrorCode.OutboxFull,
      reason: 'the outbox is full of undelivered money events; send the same command again later',
      retryAfterMs: this.#retryAfterMs,
    };
  }

  /**
   * An identical copy of an accepted command: a paid order is answered with
   * its current state (`order.state`), never dispensed again. Other types
   * get no new event: what the first copy caused is in the outbox already.
   */
  answerRedelivery(cmd: AcceptedCommand): void {
    if (cmd.type === 'credit.paid') {
      if (this.#o.payFirst?.reportState(cmd.data.orderId)) return;
      this.#o.log.warn(
        { orderId: cmd.data.orderId, commandId: cmd.id },
        'a redelivered credit is not recorded; taking it now',
      );
      this.#credit(cmd.data);
      return;
    }
    if (cmd.type !== 'order.paid') {
      this.#o.log.debug(
        { commandId: cmd.id, commandType: cmd.type },
        'redelivered command not acted on again',
      );
      return;
    }
    const order = this.#o.ledger.reportState(cmd.data.orderId);
    if (order) {
      this.#ordersLog.info(
        { orderId: order.orderId, state: order.state, commandId: cmd.id },
        'order redelivered; answered with its state',
      );
      return;
    }
    // Its command was recorded but the order was not (it went to a handler
    // that was not listening): take it now rather than lose a paid order.
    this.#o.log.warn(
      { orderId: cmd.data.orderId, commandId: cmd.id },
      'a redelivered paid order is not in the ledger; taking it now',
    );
    this.#paid(cmd.data);
  }

  /** Acts on one accepted command. Throws only on a bug; the listener logs it and the platform retries. */
  route(cmd: AcceptedCommand): void {
    switch (cmd.type) {
      case 'campaign.upsert':
      case 'campaign.end':
      case 'coupon.claim':
        this.#coupon(cmd.id, cmd.type, cmd.data);
        return;
      case 'order.paid':
        this.#paid(cmd.data);
        return;
      case 'credit.paid':
        this.#credit(cmd.data);
        return;
      case 'catalogue.set':
      case 'stock.refill':
      case 'machine.test_vend':
      case 'machine.reset':
        if (this.#o.management) this.#o.management.handle(cmd.id, cmd.type, cmd.data);
        else
          this.#o.log.warn(
            { commandId: cmd.id, commandType: cmd.type },
            'no management service: not acted on',
          );
        return;
      case 'machine.audit.read':
        this.#auditRead(cmd.id, cmd.data);
        return;
    }
  }

  #credit(paid: CommandData<'credit.paid'>): void {
    if (!this.#o.payFirst) {
      // A wiring bug: the listener logs it.
      throw new Error(`credit ${paid.orderId} for "${paid.machineId}": this gateway runs no pay-first flow`);
    }
    this.#o.payFirst.onCredit(paid);
  }

  /** The read takes seconds on the serial line: it runs after the command's transaction; its result is an `audit.read` event. */
  #auditRead(commandId: string, data: CommandData<'machine.audit.read'>): void {
    const { audit, log } = this.#o;
    if (!audit) {
      log.warn(
        { commandId, machineId: data.machineId },
        'machine.audit.read: this gateway reads no DEX audits',
      );
      return;
    }
    audit.readNow(data.machineId, 'command').then(
      () => this.#o.link.notify(),
      (err: unknown) => log.error({ err, commandId, machineId: data.machineId }, 'machine.audit.read failed'),
    );
  }

  #safely(cmd: AcceptedCommand, work: () => void): void {
    try {
      work();
    } catch (err) {
      this.#o.log.error(
        { err, commandId: cmd.id },
        'command handling failed; the platform will retry the order',
      );
    }
    // No notify here: the link publishes what a command queued once it has committed.
  }

  #coupon(
    commandId: string,
    type: 'campaign.upsert' | 'campaign.end' | 'coupon.claim',
    data: CommandData<'campaign.upsert'> | CommandData<'campaign.end'> | CommandData<'coupon.claim'>,
  ): void {
    // Claims are decided in the engine's own group commit, after the command's
    // transaction: the link must be woken once they are on disk.
    this.#o.coupons.applyCommand(type, data).then(
      () => this.#o.link.notify(),
      (err: unknown) => this.#o.log.error({ err, commandId }, 'coupon command failed'),
    );
  }

  #paid(paid: CommandData<'order.paid'>): void {
    const { cashless, ledger, runner } = this.#o;
    if (cashless.owns(paid.orderId, paid.machineId)) {
      cashless.onPaid(paid);
      return;
    }
    // No capacity check here: `admit` deferred the order before its command
    // was recorded if there was no room. Refusing it now, after the replay
    // record, would make the platform's retry a replay and lose the order.
    const r = ledger.receivePaid(paid);
    // Inside the command's transaction: the vend intent can share its commit.
    if (r.kind === 'accepted') runner.submitPaid(r.order.orderId, r.order.machineId, r.order);
    this.#ordersLog.info(
      { orderId: r.order.orderId, machineId: r.order.machineId, slot: r.order.slot, result: r.kind },
      r.kind === 'refused' ? `order refused: ${r.reason}` : `order ${r.kind}`,
    );
  }
}
