/**
 * Sends the one signed `order.paid` of a paid order. The command id is
 * derived from the order (ids.ts), so a send after a restart finds the
 * command the fleet link already recorded and republishes its exact bytes
 * instead of signing a second one; and the gateway dedupes `order.paid` by
 * order id anyway (it answers a repeat with `order.state`).
 */
import type { OrderRow } from '../store/port.ts';
import type { PaymentsContext } from './context.ts';
import { paidCommandId } from './ids.ts';

export type PaidSendResult = 'sent' | 'resent' | 'already-published' | 'failed';

export async function sendOrderPaid(ctx: PaymentsContext, order: OrderRow): Promise<PaidSendResult> {
  const commandId = paidCommandId(order.outTradeNo);
  const log = ctx.log.child({ outTradeNo: order.outTradeNo, gatewayId: order.gatewayId });
  try {
    const existing = await ctx.store.commands.get(commandId);
    if (existing?.state === 'published') return 'already-published';
    if (existing) {
      await ctx.fleet.resendCommand(commandId);
      log.info('order.paid republished');
      return 'resent';
    }
    const now = ctx.now();
    await ctx.fleet.sendCommand(
      order.gatewayId,
      'order.paid',
      {
        orderId: order.outTradeNo,
        machineId: order.machineId,
        slot: order.slot,
        price: { amount: order.amount, currency: order.currency },
        provider: order.provider,
        expiresAt: now + ctx.config.dispenseWindowMs,
        ...(order.couponCode ? { couponCode: order.couponCode } : {}),
      },
      { commandId },
    );
    log.info('order.paid sent');
    return 'sent';
  } catch (err) {
    // Recorded or not, the poller's repair pass finds the order still `paid` and sends again.
    log.warn({ err: (err as Error).message }, 'order.paid not sent yet; the repair pass retries');
    return 'failed';
  }
}

/**
 * The repair pass (at start and on every poll): every `paid` order whose
 * command was never recorded, or recorded but not published, is sent. This
 * is what makes a crash between a stored payment and its command harmless.
 */
export async function repairPaidOrders(ctx: PaymentsContext, limit = 200): Promise<number> {
  const paid = await ctx.store.orders.listByState('paid', { limit });
  let n = 0;
  for (const order of paid) {
    const r = await sendOrderPaid(ctx, order);
    if (r === 'sent' || r === 'resent') n++;
  }
  return n;
}
