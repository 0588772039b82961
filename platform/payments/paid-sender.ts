/**
 * Sends the one signed `order.paid` of a paid order (`credit.paid` for a
 * credit order: pay first, then choose). The command id is
 * derived from the order (ids.ts), so a send after a restart finds the
 * command the fleet link already recorded and republishes its exact bytes
 * instead of signing a second one; and the gateway dedupes `order.paid` by
 * order id anyway (it answers a repeat with `order.state`).
 */
import type { OrderRow } from '../store/port.ts';
import type { PaymentsContext } from './context.ts';
import { paidCommandId } from './ids.ts';

export type PaidSendResult = 'sent' | 'resent' | 'already-published' | 'failed';

/** A publish to a broker that is away waits for the reconnect; the poller does not wait with it. */
const SEND_WAIT_MS = 5_000;

function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not published within ${ms} ms (broker unreachable?)`)), ms);
  });
  p.catch(() => {}); // a late rejection after the timeout is the repair pass's business
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export async function sendOrderPaid(
  ctx: PaymentsContext,
  order: OrderRow,
  opts: { resendRecordedAfterMs?: number } = {},
): Promise<PaidSendResult> {
  const commandId = paidCommandId(order.outTradeNo);
  const log = ctx.log.child({ outTradeNo: order.outTradeNo, gatewayId: order.gatewayId });
  try {
    const existing = await ctx.store.commands.get(commandId);
    if (existing?.state === 'published') return 'already-published';
    if (existing) {
      // Recorded moments ago by this process: its publish is still in flight (queued for the reconnect).
      if (ctx.now() - existing.createdAt < (opts.resendRecordedAfterMs ?? 0)) return 'failed';
      await bounded(ctx.fleet.resendCommand(commandId), SEND_WAIT_MS);
      log.info('order.paid republished');
      return 'resent';
    }
    const now = ctx.now();
    const expiresAt = now + ctx.config.dispenseWindowMs;
    // A credit order (pay first, then choose) carries the credit; the gateway begins a session with it.
    const send =
      order.kind === 'credit'
        ? ctx.fleet.sendCommand(
            order.gatewayId,
            'credit.paid',
            {
              orderId: order.outTradeNo,
              machineId: order.machineId,
              credit: { amount: order.amount, currency: order.currency },
              provider: order.provider,
              expiresAt,
            },
            { commandId },
          )
        : ctx.fleet.sendCommand(
            order.gatewayId,
            'order.paid',
            {
              orderId: order.outTradeNo,
              machineId: order.machineId,
              slot: order.slot,
              price: { amount: order.amount, currency: order.currency },
              provider: order.provider,
              expiresAt,
              ...(order.couponCode ? { couponCode: order.couponCode } : {}),
            },
            { commandId },
          );
    await bounded(send, SEND_WAIT_MS);
    log.info(order.kind === 'credit' ? 'credit.paid sent' : 'order.paid sent');
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
export async function repairPaidOrders(
  ctx: PaymentsContext,
  opts: { resendRecordedAfterMs?: number; limit?: number } = {},
): Promise<number> {
  const paid = await ctx.store.orders.listByState('paid', { limit: opts.limit ?? 200 });
  let n = 0;
  for (const order of paid) {
    const r = await sendOrderPaid(ctx, order, opts);
    if (r === 'sent' || r === 'resent') n++;
  }
  return n;
}
