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
import { recordOrderPaid } from './paid-sender.ts';

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

/**
 * Thrown inside the transaction when the one-statement path wrote something the general path must
 * not see (a transaction id already recorded for an order still `created`): the transaction rolls
 * back and the general path runs in a fresh one.
 */
class NotTheCommonCase extends Error {}

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
  const general = (t: StoreTx) => settleInTx(ctx, t, provider, payment, patch, at, opts, log);
  let outcome: SettleOutcome;
  try {
    outcome = await ctx.store.tx(async (t) => {
      if (opts.refundInstead === undefined) {
        const paid = await payCommonCase(ctx, t, provider, payment, patch, at);
        if (paid) return paid;
      }
      return general(t);
    });
  } catch (err) {
    if (!(err instanceof NotTheCommonCase)) throw err;
    outcome = await ctx.store.tx(general);
  }
  if (outcome.kind === 'unknown')
    log.error({ reason: outcome.reason }, 'a paid payment for no order of ours: refused');
  else if (outcome.kind === 'refunding')
    log.warn({ reason: outcome.reason }, 'paid, refunding instead of dispensing');
  else if (outcome.kind === 'paid') log.debug({ transactionId: payment.transactionId }, 'paid');
  else log.debug('payment already recorded');
  return outcome;
}

/**
 * The common case in three statements: the order is still `created`, this provider's, for exactly
 * the amount paid, so it moves to `paid` (one conditional UPDATE ... RETURNING), both dedupe keys
 * are recorded (one INSERT), and its order.paid is recorded in the same transaction. undefined
 * (nothing written) when the order is not in that state: the general path decides.
 */
async function payCommonCase(
  ctx: PaymentsContext,
  t: StoreTx,
  provider: ProviderName,
  payment: PaidPayment,
  patch: OrderPatch,
  at: number,
): Promise<SettleOutcome | undefined> {
  const order = await t.orders.payCreated(
    payment.outTradeNo,
    { provider, amount: payment.amount.amount, currency: payment.amount.currency },
    at,
    patch,
  );
  if (!order) return undefined;
  const keys = [`txn:${payment.transactionId}`, `otn:${order.outTradeNo}`];
  const fresh = await t.notifications.recordMany(provider, keys, order.outTradeNo, at);
  if (fresh.size !== keys.length) throw new NotTheCommonCase();
  return { kind: 'paid', order, command: await recordOrderPaid(ctx, t, order) };
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
