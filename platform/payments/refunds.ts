/**
 * The refund worker: sends every due refund row to its provider with the
 * row's own `out_refund_no` (stable since the row was written, so a retry
 * after a timeout or a crash refunds at most once), and records the answer.
 * A provider that times out or answers 5xx is retried with a doubling
 * backoff until it answers; a final refusal sends the order to the
 * unresolved queue for an operator.
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
    // Every refund here is a full refund of what was paid, so the total is the refund amount.
    result = await provider.refund({
      outTradeNo: row.outTradeNo,
      outRefundNo: row.outRefundNo,
      amount,
      total: amount,
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
        nextAttemptAt: null,
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

/** One pass over the due refunds, oldest first. */
export async function runDueRefunds(ctx: PaymentsContext, limit = 50): Promise<number> {
  const due = (await ctx.store.refunds.due(ctx.now(), limit)).filter((r) => r.state === 'pending');
  let n = 0;
  for (const row of due) {
    if ((await attemptRefund(ctx, row)) === 'refunded') n++;
  }
  return n;
}
