/**
 * Sends the one signed `order.paid` of a paid order (`credit.paid` for a
 * credit order: pay first, then choose). The command id is
 * derived from the order (ids.ts), so a send after a restart finds the
 * command the fleet link already recorded and republishes its exact bytes
 * instead of signing a second one; and the gateway dedupes `order.paid` by
 * order id anyway (it answers a repeat with `order.state`).
 */
import type { CommandData } from '../../contract/commands.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { PreparedFleetCommand, RecordedFleetCommand } from '../fleet/port.ts';
import type { OrderRow, StoreTx } from '../store/port.ts';
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

type PaidType = 'order.paid' | 'credit.paid';

/** Orders the repair pass sends at once. */
const REPAIR_CONCURRENCY = 16;

/**
 * The command a paid order gets: `order.paid`, or `credit.paid` for a credit order (pay first, then
 * choose), which carries the credit the gateway begins a session with.
 */
function paidCommand(ctx: PaymentsContext, order: OrderRow): { type: PaidType; data: CommandData<PaidType> } {
  const expiresAt = ctx.now() + ctx.config.dispenseWindowMs;
  if (order.kind === 'credit') {
    return {
      type: 'credit.paid',
      data: {
        orderId: order.outTradeNo,
        machineId: order.machineId,
        credit: { amount: order.amount, currency: order.currency },
        provider: order.provider,
        expiresAt,
      },
    };
  }
  return {
    type: 'order.paid',
    data: {
      orderId: order.outTradeNo,
      machineId: order.machineId,
      slot: order.slot,
      price: { amount: order.amount, currency: order.currency },
      provider: order.provider,
      expiresAt,
      ...(order.couponCode ? { couponCode: order.couponCode } : {}),
    },
  };
}

/**
 * Signs and records a newly paid order's command in the caller's transaction (the one that moved
 * the order to `paid`), so the payment and its command share one commit; the caller publishes it
 * after that commit (publishRecordedPaid). undefined when it cannot be recorded this way (the
 * fleet refused the command before any write, or its row exists): the order stays `paid` and
 * sendOrderPaid after the commit, or the repair pass, sends it.
 */
export async function recordOrderPaid(
  ctx: PaymentsContext,
  t: StoreTx,
  order: OrderRow,
): Promise<RecordedFleetCommand | undefined> {
  const c = paidCommand(ctx, order);
  try {
    return await ctx.fleet.sendCommand(order.gatewayId, c.type, c.data, {
      commandId: paidCommandId(order.outTradeNo),
      tx: t,
    });
  } catch (err) {
    // Only the fleet's refusals, which come before any write; a store error fails the transaction
    // (PostgreSQL refuses every later statement of it), so the payment is not acknowledged.
    if (!(err instanceof VendgateError) || !FLEET_REFUSALS.has(err.code)) throw err;
    ctx.log.warn(
      { err: err.message, outTradeNo: order.outTradeNo },
      'order.paid not recorded with the payment; sent after the commit',
    );
    return undefined;
  }
}

/**
 * Signs a `created` order's command before its payment is written, for the one-write common case
 * (Store.payCreatedOrder records it with the payment). undefined when the fleet refuses it (before
 * any write, as recordOrderPaid): the caller takes the general path, which records the payment.
 */
export function preparePaidCommand(ctx: PaymentsContext, order: OrderRow): PreparedFleetCommand | undefined {
  const c = paidCommand(ctx, order);
  try {
    return ctx.fleet.prepareCommand(order.gatewayId, c.type, c.data, {
      commandId: paidCommandId(order.outTradeNo),
    });
  } catch (err) {
    if (!(err instanceof VendgateError) || !FLEET_REFUSALS.has(err.code)) throw err;
    return undefined;
  }
}

const FLEET_REFUSALS = new Set<number>([
  ErrorCode.GatewayIdInvalid,
  ErrorCode.CommandUnknownType,
  ErrorCode.CommandBodyInvalid,
  ErrorCode.BrokerUnreachable,
  ErrorCode.CommandReplayed,
]);

/** Publishes what recordOrderPaid recorded, once its transaction committed; else sends as sendOrderPaid. */
export async function publishOrderPaid(
  ctx: PaymentsContext,
  order: OrderRow,
  recorded: RecordedFleetCommand | undefined,
): Promise<PaidSendResult> {
  if (!recorded) return sendOrderPaid(ctx, order);
  try {
    await bounded(recorded.publish(), SEND_WAIT_MS);
    ctx.log.debug({ outTradeNo: order.outTradeNo, gatewayId: order.gatewayId }, `${recorded.type} sent`);
    return 'sent';
  } catch (err) {
    // Recorded with the payment: the poller's repair pass finds the row unpublished and publishes it.
    ctx.log.warn(
      { err: (err as Error).message, outTradeNo: order.outTradeNo, gatewayId: order.gatewayId },
      'order.paid not published yet; the repair pass retries',
    );
    return 'failed';
  }
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
    const c = paidCommand(ctx, order);
    await bounded(ctx.fleet.sendCommand(order.gatewayId, c.type, c.data, { commandId }), SEND_WAIT_MS);
    log.debug(order.kind === 'credit' ? 'credit.paid sent' : 'order.paid sent');
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
  let next = 0;
  // A few at a time: each send waits for its publish and its published mark, and marks sent
  // together share one statement (fleet link), so one at a time would wait a mark window each.
  const worker = async () => {
    while (next < paid.length) {
      const r = await sendOrderPaid(ctx, paid[next++]!, opts);
      if (r === 'sent' || r === 'resent') n++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(REPAIR_CONCURRENCY, paid.length) }, worker));
  return n;
}
