/**
 * The poller: callbacks alone are never trusted to arrive. On every pass it
 * (1) queries orders still `created` that are near their expiry and settles
 * a paid answer exactly like a notification, (2) closes orders past their
 * expiry, and (3) repairs paid orders whose `order.paid` was never
 * published. Refunds have their own worker (refunds.ts).
 */

import { closeOrder } from './closes.ts';
import type { PaymentsContext } from './context.ts';
import { isProviderName } from './context.ts';
import { publishOrderPaid, repairPaidOrders } from './paid-sender.ts';
import { settlePayment } from './settle.ts';

export interface PollSummary {
  queried: number;
  paid: number;
  closed: number;
  repaired: number;
}

export async function queryPendingOrders(
  ctx: PaymentsContext,
  limit = 200,
): Promise<{ queried: number; paid: number }> {
  const now = ctx.now();
  const created = await ctx.store.orders.listByState('created', { limit });
  let queried = 0;
  let paid = 0;
  for (const order of created) {
    if (order.expiresAt - now > ctx.config.queryBeforeExpiryMs) continue;
    const provider = isProviderName(order.provider) ? ctx.providers[order.provider] : undefined;
    if (!provider || !isProviderName(order.provider)) continue;
    queried++;
    try {
      const q = await provider.query(order.outTradeNo);
      if (q.kind === 'paid' || q.kind === 'refunded') {
        const s = await settlePayment(ctx, order.provider, q.payment, 'query');
        if (s.kind === 'paid') {
          paid++;
          await publishOrderPaid(ctx, s.order, s.command);
        }
      }
    } catch (err) {
      ctx.log.warn({ outTradeNo: order.outTradeNo, err: (err as Error).message }, 'query failed; next pass');
    }
  }
  return { queried, paid };
}

export async function closeExpiredOrders(ctx: PaymentsContext, limit = 100): Promise<number> {
  const expired = await ctx.store.orders.listExpired(ctx.now() - ctx.config.closeAfterExpiryMs, limit);
  let n = 0;
  for (const order of expired) {
    if ((await closeOrder(ctx, order.outTradeNo, 'expired unpaid')) === 'closed') n++;
  }
  return n;
}

export async function pollOnce(ctx: PaymentsContext): Promise<PollSummary> {
  const { queried, paid } = await queryPendingOrders(ctx);
  const closed = await closeExpiredOrders(ctx);
  // At start every recorded command is resent (repairPaidOrders in payments.ts); here only those whose
  // publish has had time to get through, so a broker outage is not answered with a storm of copies.
  const repaired = await repairPaidOrders(ctx, { resendRecordedAfterMs: 30_000 });
  return { queried, paid, closed, repaired };
}
