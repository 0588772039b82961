/**
 * Routes every command the platform link accepted (signature, freshness and
 * replay already checked by the command guard) to the part that owns it:
 * campaign and claim commands to the coupon engine, `order.paid` for a
 * select-then-pay session to the cashless flow, any other `order.paid` to the
 * ledger and the vend runner.
 *
 * The link emits 'command' inside the command's transaction, so the ledger
 * write and the vend intent share its commit, and the link itself publishes
 * what the command queued once that commit is done.
 */
import type { CommandData } from '../../contract/commands.ts';
import { ErrorCode } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import type { CashlessFlow } from '../cashless/flow.ts';
import type { CouponEngine } from '../coupons/engine.ts';
import type { OrderLedger } from '../ledger/ledger.ts';
import type { VendRunner } from '../ledger/vend-runner.ts';
import type { AcceptedCommand } from '../link/link.ts';

/** What the router needs of the platform link. */
export interface CommandSource {
  on(event: 'command', listener: (command: AcceptedCommand) => void): unknown;
  off(event: 'command', listener: (command: AcceptedCommand) => void): unknown;
  /** Publishes what was queued outside a command's transaction. */
  notify(): void;
}

export interface CommandRouterOptions {
  link: CommandSource;
  coupons: Pick<CouponEngine, 'applyCommand'>;
  cashless: Pick<CashlessFlow, 'owns' | 'onPaid'>;
  ledger: Pick<OrderLedger, 'receivePaid'>;
  runner: Pick<VendRunner, 'submitPaid'>;
  /** Only `saturated` is read: a full outbox of money events refuses new orders. */
  outbox: { readonly saturated: boolean };
  /** For commands that failed. */
  log: Log;
  /** For the decision on each paid order; default `log`. */
  ordersLog?: Log;
}

export class CommandRouter {
  readonly #o: CommandRouterOptions;
  readonly #ordersLog: Log;
  readonly #listener = (cmd: AcceptedCommand): void => this.#safely(cmd);

  constructor(opts: CommandRouterOptions) {
    this.#o = opts;
    this.#ordersLog = opts.ordersLog ?? opts.log;
  }

  start(): void {
    this.#o.link.on('command', this.#listener);
  }

  stop(): void {
    this.#o.link.off('command', this.#listener);
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
    }
  }

  #safely(cmd: AcceptedCommand): void {
    try {
      this.route(cmd);
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
    const { cashless, ledger, runner, outbox } = this.#o;
    if (cashless.owns(paid.orderId, paid.machineId)) {
      cashless.onPaid(paid);
      return;
    }
    if (outbox.saturated) {
      // Not recorded: the platform sees no order.accepted and retries.
      this.#o.log.error(
        { orderId: paid.orderId, code: ErrorCode.OutboxFull },
        'outbox full of undelivered money events; order not taken',
      );
      return;
    }
    const r = ledger.receivePaid(paid);
    // Inside the command's transaction: the vend intent can share its commit.
    if (r.kind === 'accepted') runner.submitPaid(r.order.orderId, r.order.machineId);
    this.#ordersLog.info(
      { orderId: r.order.orderId, machineId: r.order.machineId, slot: r.order.slot, result: r.kind },
      r.kind === 'refused' ? `order refused: ${r.reason}` : `order ${r.kind}`,
    );
  }
}
