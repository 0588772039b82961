/**
 * One path for "the provider says this order is paid", whoever learnt it: a
 * verified notification, the poller's query, or a close answered "already
 * paid". In one transaction it records the payment under both dedupe keys
 * (the provider transaction id and the out_trade_no), moves the order to
 * `paid`, and, when the payment must not be dispensed (the amount or
 * currency differs from the order's, or it landed after the order was
 * closed), straight on to `refund_requested` with its refund row. A newly
 * paid order's `order.paid` command is recorded in that same transaction
 * and published after the commit (paid-sender.ts): one durable commit
 * before the command is on the wire; a crash in between leaves the command
 * `recorded`, which the repair pass publishes on restart.
 */
import { sameMoney } from '../../core/money.ts';
import type { RecordedFleetCommand } from '../fleet/port.ts';
import type { PaidPayment, ProviderName } from '../providers/port.ts';
import type { OrderPatch, OrderRow, StoreTx } from '../store/port.ts';
import type { PaymentsContext } from './context.ts';
import { refundNoOf } from './ids.ts';
import { preparePaidCommand, recordOrderPaid } from './paid-sender.ts';

export type PaymentSource = 'notification' | 'query' | 'close';

export type SettleOutcome =
  /**
   * Newly paid: its order.paid was recorded in the same transaction (publish it: publishOrderPaid),
   * or, when `command` is undefined, is still to be sent.
   */
  | { kind: 'paid'; order: OrderRow; command: RecordedFleetCommand | undefined }
  /** Newly paid but refunded instead of dispensed (reason says why). */
  | { kind: 'refunding'; order: OrderRow; reason: string }
  /** Seen before (same transaction or same order): nothing was done. */
  | { kind: 'duplicate' }
  /** Not an order of ours, or another provider's: nothing stored. */
  | { kind: 'unknown'; reason: string };

export interface SettleOptions {
  /** Refund instead of dispensing (e.g. a close that found the order paid). */
  refundInstead?: string;
}

export async function settlePayment(
  ctx: PaymentsContext,
  provider: ProviderName,
  payment: PaidPayment,
  source: PaymentSource,
  opts: SettleOptions = {},
): Promise<SettleOutcome> {
  const at = ctx.now();
  const log = ctx.log.child({ outTradeNo: payment.outTradeNo, provider, source });
  const patch = {
    transactionId: payment.transactionId,
    paidAt: payment.paidAt,
    ...(payment.payerId ? { payerId: payment.payerId } : {}),
    ...(payment.payer
      ? {
          payerAmount: payment.payer.amount.amount,
          payerCurrency: payment.payer.amount.currency,
          ...(payment.payer.exchangeRate ? { exchangeRate: payment.payer.exchangeRate } : {}),
        }
      : {}),
  };
  const outcome =
    (opts.refundInstead === undefined
      ? await payCommonCase(ctx, provider, payment, patch, at, log)
      : undefined) ??
    (await ctx.store.tx((t) => settleInTx(ctx, t, provider, payment, patch, at, opts, log)));
  if (outcome.kind === 'unknown')
    log.error({ reason: outcome.reason }, 'a paid payment for no order of ours: refused');
  else if (outcome.kind === 'refunding')
    log.warn({ reason: outcome.reason }, 'paid, refunding instead of dispensing');
  else if (outcome.kind === 'paid') log.debug({ transactionId: payment.transactionId }, 'paid');
  else log.debug('payment already recorded');
  return outcome;
}

/**
 * The common case in one write: the order, read first, is still `created`, this provider's, for
 * exactly the amount paid; its order.paid is signed from that row, then Store.payCreatedOrder moves
 * it to `paid`, records both dedupe keys and the command, all or nothing, and only while the row
 * still says what the command says (on PostgreSQL one statement: two round trips per payment with
 * the read, instead of five). undefined when nothing was written (not that state, a key seen, the
 * fleet refused the command): the general path decides, in its own transaction.
 */
async function payCommonCase(
  ctx: PaymentsContext,
  provider: ProviderName,
  payment: PaidPayment,
  patch: OrderPatch,
  at: number,
  log: PaymentsContext['log'],
): Promise<SettleOutcome | undefined> {
  const order = await ctx.store.getOrderBatched(payment.outTradeNo);
  if (
    order?.state !== 'created' ||
    order.provider !== provider ||
    order.amount !== payment.amount.amount ||
    order.currency !== payment.amount.currency
  )
    return undefined;
  const command = preparePaidCommand(ctx, order);
  if (!command) return undefined;
  const r = await ctx.store.payCreatedOrder({
    outTradeNo: order.outTradeNo,
    provider,
    expect: {
      amount: order.amount,
      currency: order.currency,
      gatewayId: order.gatewayId,
      machineId: order.machineId,
      slot: order.slot,
      kind: order.kind,
      couponCode: order.couponCode,
    },
    at,
    patch,
    keys: [`txn:${payment.transactionId}`, `otn:${order.outTradeNo}`],
    command: command.row,
  });
  if (r.kind !== 'paid') return undefined;
  if (!r.commandRecorded) {
    // Its row exists (an earlier send): publishOrderPaid sends it as sendOrderPaid does.
    log.warn('order.paid not recorded with the payment; sent after the commit');
    return { kind: 'paid', order: r.order, command: undefined };
  }
  return { kind: 'paid', order: r.order, command };
}

async function settleInTx(
  ctx: PaymentsContext,
  t: StoreTx,
  provider: ProviderName,
  payment: PaidPayment,
  patch: OrderPatch,
  at: number,
  opts: SettleOptions,
  log: PaymentsContext['log'],
): Promise<SettleOutcome> {
  const order = await t.orders.get(payment.outTradeNo);
  if (!order) return { kind: 'unknown', reason: 'no order has this out_trade_no' };
  if (order.provider !== provider) {
    return { kind: 'unknown', reason: `the order is a ${order.provider} order` };
  }
  const newTxn = await t.notifications.record(provider, `txn:${payment.transactionId}`, order.outTradeNo, at);
  if (!newTxn) return { kind: 'duplicate' };
  const newOrder = await t.notifications.record(provider, `otn:${order.outTradeNo}`, order.outTradeNo, at);
  if (!newOrder) {
    // A second transaction id for an order already paid: never dispensed twice; reconciliation lists it.
    log.error(
      { transactionId: payment.transactionId, known: order.transactionId },
      'a second provider transaction for an order already paid: not dispensed, left to reconciliation',
    );
    return { kind: 'duplicate' };
  }
  const mismatch = sameMoney(payment.amount, { amount: order.amount, currency: order.currency })
    ? undefined
    : `paid ${payment.amount.currency} ${payment.amount.amount} but the order is ${order.currency} ${order.amount}`;
  const refundReason =
    mismatch ??
    opts.refundInstead ??
    (order.state === 'closed' ? 'paid after the order was closed' : undefined);
  if (order.state !== 'created' && order.state !== 'closed') {
    // Paid already through a path that did not record these keys (an operator, an older build).
    log.warn({ state: order.state }, 'a payment for an order past created: nothing to do');
    return { kind: 'duplicate' };
  }
  const reasonPatch = refundReason ? { reason: refundReason } : {};
  if (!(await t.orders.transition(order.outTradeNo, order.state, 'paid', at, { ...patch, ...reasonPatch }))) {
    return { kind: 'duplicate' };
  }
  if (refundReason) {
    await requestRefund(t, order, payment.amount, refundReason, at);
    return { kind: 'refunding', order, reason: refundReason };
  }
  const paid: OrderRow = { ...order, state: 'paid' };
  return { kind: 'paid', order: paid, command: await recordOrderPaid(ctx, t, paid) };
}

/**
 * Moves a `paid` (or `dispensed`/`unresolved`) order to `refund_requested`
 * and writes its refund row, in the caller's transaction, so the refund is
 * durable before anything is sent to the provider.
 */
export async function requestRefund(
  t: StoreTx,
  order: OrderRow,
  amount: { amount: number; currency: string },
  reason: string,
  at: number,
  sourceEventId?: string,
): Promise<boolean> {
  const from = (await t.orders.get(order.outTradeNo))?.state;
  if (from !== 'paid' && from !== 'dispensed' && from !== 'unresolved') return false;
  if (!(await t.orders.transition(order.outTradeNo, from, 'refund_requested', at, { reason }))) return false;
  await t.refunds.create({
    outRefundNo: refundNoOf(order),
    outTradeNo: order.outTradeNo,
    amount: amount.amount,
    currency: amount.currency,
    reason: reason.slice(0, 200),
    ...(sourceEventId ? { sourceEventId } : {}),
    nextAttemptAt: at,
    createdAt: at,
  });
  return true;
}
