/**
 * The unresolved queue: orders a gateway could not vouch for (it does not
 * know whether the product dropped) or whose refund the provider refused.
 * An operator looks at the machine and resolves each one: `dispensed` (the
 * customer got it) or `refund` (give the money back, with the order's one
 * refund number).
 */
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { OrderRow } from '../store/port.ts';
import type { PaymentsContext } from './context.ts';
import { refundNoOf } from './ids.ts';
import { requestRefund } from './settle.ts';

export type Resolution = 'dispensed' | 'refund';

export async function listUnresolved(ctx: PaymentsContext, limit = 500): Promise<OrderRow[]> {
  return ctx.store.orders.listByState('unresolved', { limit });
}

export async function resolveOrder(
  ctx: PaymentsContext,
  outTradeNo: string,
  resolution: Resolution,
  note: string,
): Promise<OrderRow> {
  const at = ctx.now();
  await ctx.store.tx(async (t) => {
    const order = await t.orders.get(outTradeNo);
    if (!order)
      throw new VendgateError(ErrorCode.PlatformOrderUnknown, `no order ${outTradeNo}`, { outTradeNo });
    if (order.state !== 'unresolved') {
      throw new VendgateError(
        ErrorCode.PlatformOrderState,
        `order ${outTradeNo} is ${order.state}, not unresolved`,
        {
          outTradeNo,
          state: order.state,
        },
      );
    }
    const reason = `operator: ${resolution}${note ? ` (${note.slice(0, 200)})` : ''}`;
    if (resolution === 'dispensed') {
      await t.orders.transition(outTradeNo, 'unresolved', 'dispensed', at, { reason });
      return;
    }
    const existing = await t.refunds.get(refundNoOf(order));
    // A credit order refunds what the machine did not vend, never the vended part.
    const amount = existing
      ? { amount: existing.amount, currency: existing.currency }
      : { amount: order.amount - (order.vendedAmount ?? 0), currency: order.currency };
    await requestRefund(t, order, amount, reason, at);
    // A refund the provider refused before is tried again under the same number.
    if (existing && existing.state !== 'pending') {
      await t.refunds.recordAttempt(
        existing.outRefundNo,
        existing.state,
        existing.attempts,
        {
          state: 'pending',
          nextAttemptAt: at,
          outcome: reason,
        },
        at,
      );
    }
  });
  ctx.log.info({ outTradeNo, resolution }, 'unresolved order resolved by an operator');
  const after = await ctx.store.orders.get(outTradeNo);
  if (!after)
    throw new VendgateError(ErrorCode.PlatformOrderUnknown, `no order ${outTradeNo}`, { outTradeNo });
  return after;
}
