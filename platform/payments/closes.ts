/**
 * Closing an unpaid order at the provider, so it can no longer be paid: when
 * a gateway's session ends (`order.close_requested`) and when the poller
 * finds an order past its expiry. A close the provider answers "already
 * paid" (WeChat ORDERPAID, Alipay TRADE_SUCCESS) is a payment the platform
 * did not hear about: it is queried and settled like a notification, and
 * refunded rather than dispensed, since the customer was told it expired.
 */
import type { PaymentsContext } from './context.ts';
import { isProviderName } from './context.ts';
import { type SettleOutcome, settlePayment } from './settle.ts';

export type CloseOutcome = 'closed' | 'refunding' | 'not-created' | 'failed';

export async function closeOrder(
  ctx: PaymentsContext,
  outTradeNo: string,
  why: string,
): Promise<CloseOutcome> {
  const log = ctx.log.child({ outTradeNo, why });
  const order = await ctx.store.orders.get(outTradeNo);
  if (order?.state !== 'created') return 'not-created';
  const provider = isProviderName(order.provider) ? ctx.providers[order.provider] : undefined;
  if (!provider || !isProviderName(order.provider)) {
    log.error({ provider: order.provider }, 'cannot close: provider not configured');
    return 'failed';
  }
  try {
    const r = await provider.close(outTradeNo);
    if (r.kind === 'already-paid') {
      const q = await provider.query(outTradeNo);
      if (q.kind !== 'paid' && q.kind !== 'refunded') {
        log.warn({ state: q.kind }, 'close said paid, query did not: left for the next pass');
        return 'failed';
      }
      const s: SettleOutcome = await settlePayment(ctx, order.provider, q.payment, 'close', {
        refundInstead: `paid, found when closing: ${why}`,
      });
      return s.kind === 'refunding' ? 'refunding' : 'failed';
    }
    const reason = r.kind === 'not-found' ? `${why}; never scanned` : why;
    await ctx.store.orders.transition(outTradeNo, 'created', 'closed', ctx.now(), { reason });
    log.info('closed at the provider');
    return 'closed';
  } catch (err) {
    // The order stays `created`: the poller closes it on a later pass.
    log.warn({ err: (err as Error).message }, 'close failed; retried by the poller');
    return 'failed';
  }
}
