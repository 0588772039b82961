/**
 * The refund worker: sends every due refund row to its provider with the
 * row's own `out_refund_no` (stable since the row was written, so a retry
 * after a timeout or a crash refunds at most once), and records the answer.
 * A provider that times out or answers 5xx is retried with a doubling
 * backoff until it answers; a final refusal sends the order to the
 * unresolved queue for an operator. A refund the provider accepted is
 * asked about later (`checkRefund`) until it says the money reached the
 * payer: its notification may never come.
 */
import { isVendgateError } from '../../core/errors.ts';
import type { RefundRow } from '../store/port.ts';
import type { PaymentsContext } from './context.ts';
import { isProviderName } from './context.ts';

export function refundBackoffMs(ctx: PaymentsContext, attempts: number): number {
  const { refundRetryMs, refundRetryMaxMs } = ctx.config;
  return Math.min(refundRetryMaxMs, refundRetryMs * 2 ** Math.min(attempts, 20));
}

export type RefundAttemptOutcome = 'refunded' | 'retry' | 'refused' | 'skipped';

export async function attemptRefund(ctx: PaymentsContext, row: RefundRow): Promise<RefundAttemptOutcome> {
  const log = ctx.log.child({ outTradeNo: row.outTradeNo, outRefundNo: row.outRefundNo });
  const order = await ctx.store.orders.get(row.outTradeNo);
  const provider = order && isProviderName(order.provider) ? ctx.providers[order.provider] : undefined;
  if (!order || !provider) {
    log.error(
      { provider: order?.provider },
      'refund for an order or provider that is not there: left pending',
    );
    return 'skipped';
  }
  const amount = { amount: row.amount, currency: row.currency };
  let result: Awaited<ReturnType<typeof provider.refund>>;
  try {
    // An item order's refund is a full refund of what was paid (which may differ from the order's amount
    // on a mismatched payment), so the total is the refund amount. A credit order's refund is the unspent
    // rest: a partial refund of the order's total (WeChat Pay v3 amount.refund < amount.total; Alipay
    // alipay.trade.refund refund_amount below the trade's total).
    const total = order.kind === 'credit' ? { amount: order.amount, currency: order.currency } : amount;
    result = await provider.refund({
      outTradeNo: row.outTradeNo,
      outRefundNo: row.outRefundNo,
      amount,
      total,
      reason: row.reason.slice(0, 80),
    });
  } catch (err) {
    const retryable = isVendgateError(err) ? err.context.retryable === true : true;
    const outcome = isVendgateError(err) ? `error ${err.code}: ${err.message}` : (err as Error).message;
    const at = ctx.now();
    if (retryable) {
      const next = at + refundBackoffMs(ctx, row.attempts);
      await ctx.store.refunds.recordAttempt(
        row.outRefundNo,
        row.state,
        row.attempts,
        {
          state: 'pending',
          nextAttemptAt: next,
          outcome,
        },
        at,
      );
      log.warn(
        { outcome, attempts: row.attempts + 1, retryInMs: next - at },
        'refund not answered; retrying',
      );
      return 'retry';
    }
    await refused(ctx, row, outcome);
    log.error({ outcome }, 'refund failed for good: order queued for an operator');
    return 'refused';
  }
  const at = ctx.now();
  if (result.kind === 'refused') {
    const outcome = `refused ${result.code}: ${result.message}`;
    await refused(ctx, row, outcome);
    log.error({ outcome }, 'the provider refused the refund: order queued for an operator');
    return 'refused';
  }
  await ctx.store.tx(async (t) => {
    await t.refunds.recordAttempt(
      row.outRefundNo,
      row.state,
      row.attempts,
      {
        state: result.kind === 'already-refunded' ? 'succeeded' : 'accepted',
        nextAttemptAt: result.kind === 'already-refunded' ? null : at + ctx.config.refundStatusQueryMs,
        providerRefundId: result.refundId,
        outcome:
          result.kind === 'already-refunded' ? 'already refunded (a retry)' : 'accepted by the provider',
      },
      at,
    );
    const o = await t.orders.get(row.outTradeNo);
    if (o?.state === 'refund_requested')
      await t.orders.transition(row.outTradeNo, 'refund_requested', 'refunded', at);
  });
  log.info({ kind: result.kind, refundId: result.refundId }, 'refunded');
  return 'refunded';
}

async function refused(ctx: PaymentsContext, row: RefundRow, outcome: string): Promise<void> {
  const at = ctx.now();
  await ctx.store.tx(async (t) => {
    await t.refunds.recordAttempt(
      row.outRefundNo,
      row.state,
      row.attempts,
      { state: 'refused', nextAttemptAt: null, outcome },
      at,
    );
    const o = await t.orders.get(row.outTradeNo);
    if (o?.state === 'refund_requested') {
      await t.orders.transition(row.outTradeNo, 'refund_requested', 'unresolved', at, {
        reason: `refund ${outcome}`.slice(0, 500),
      });
    }
  });
}

export type RefundCheckOutcome = 'succeeded' | 'processing' | 'failed' | 'resend' | 'retry' | 'skipped';

/**
 * Asks the provider about a refund it accepted: done -> `succeeded`; still
 * processing -> asked again later; unknown to the provider -> `pending`
 * again, so the worker resends it under the same out_refund_no (the
 * provider dedupes on it); CLOSED/ABNORMAL -> `abnormal`, logged for an
 * operator (the money did not reach the payer; WeChat wants the abnormal
 * refund handled in its merchant console).
 */
export async function checkRefund(ctx: PaymentsContext, row: RefundRow): Promise<RefundCheckOutcome> {
  const log = ctx.log.child({ outTradeNo: row.outTradeNo, outRefundNo: row.outRefundNo });
  const order = await ctx.store.orders.get(row.outTradeNo);
  const provider = order && isProviderName(order.provider) ? ctx.providers[order.provider] : undefined;
  if (!provider) return 'skipped';
  const record = (next: Parameters<typeof ctx.store.refunds.recordAttempt>[3]) =>
    ctx.store.refunds.recordAttempt(row.outRefundNo, row.state, row.attempts, next, ctx.now());
  let status: Awaited<ReturnType<typeof provider.queryRefund>>;
  try {
    status = await provider.queryRefund(row.outTradeNo, row.outRefundNo);
  } catch (err) {
    const outcome = isVendgateError(err)
      ? `status query error ${err.code}: ${err.message}`
      : (err as Error).message;
    await record({
      state: 'accepted',
      nextAttemptAt: ctx.now() + refundBackoffMs(ctx, row.attempts),
      outcome,
    });
    log.warn({ outcome }, 'refund status query failed; asking again later');
    return 'retry';
  }
  switch (status.kind) {
    case 'succeeded':
      await record({
        state: 'succeeded',
        nextAttemptAt: null,
        providerRefundId: status.refundId,
        outcome: 'confirmed by a status query',
      });
      log.info({ refundId: status.refundId }, 'refund confirmed');
      return 'succeeded';
    case 'processing':
      await record({
        state: 'accepted',
        nextAttemptAt:
          ctx.now() + Math.max(ctx.config.refundStatusQueryMs, refundBackoffMs(ctx, row.attempts)),
        outcome: 'the provider is still processing the refund',
      });
      return 'processing';
    case 'not-found':
      await record({
        state: 'pending',
        nextAttemptAt: ctx.now(),
        outcome: 'unknown to the provider: resent',
      });
      log.warn('the provider knows no such refund; resending it under the same out_refund_no');
      return 'resend';
    case 'failed':
      await record({ state: 'abnormal', nextAttemptAt: null, outcome: `refund ${status.status}` });
      log.error({ status: status.status }, 'the refund did not reach the payer: an operator must handle it');
      return 'failed';
  }
}

/** One pass over the due refunds, oldest first: pending ones are sent, accepted ones asked about. */
export async function runDueRefunds(ctx: PaymentsContext, limit = 50): Promise<number> {
  const due = await ctx.store.refunds.due(ctx.now(), limit);
  let n = 0;
  for (const row of due) {
    if (row.state === 'pending') {
      if ((await attemptRefund(ctx, row)) === 'refunded') n++;
    } else if (row.state === 'accepted') {
      await checkRefund(ctx, row);
    }
  }
  return n;
}
