/**
 * The platform's numbers for one order: the provider order number
 * (`out_trade_no`), the refund number derived from it, and the id of the
 * `order.paid` command that carries it. The last two are derived, never
 * random, so a retry after a crash reuses them: the provider refunds one
 * `out_refund_no` at most once (WeChat Pay v3 refunds, out_refund_no; Alipay
 * alipay.trade.refund, out_request_no) and the fleet link records one command
 * id once.
 */
import { createHash, randomBytes } from 'node:crypto';

/** out_trade_no for WeChat Pay and Alipay: 6-32 characters of [A-Za-z0-9_-]. */
export const OUT_TRADE_NO = /^[A-Za-z0-9_-]{6,32}$/;

/** A fresh order number for a remote vend: `vg` + time (base36) + 40 random bits, 20 characters or fewer. */
export function newOutTradeNo(now: number): string {
  return `vg${now.toString(36)}${randomBytes(5).toString('hex')}`;
}

/**
 * The order number of a gateway's cashless session: the same session asking
 * again (a request retried after a lost answer) gets the same order, which
 * the provider answers with the same QR instead of a second payable order.
 */
export function sessionOutTradeNo(gatewayId: string, sessionId: string): string {
  const h = createHash('sha256').update(`${gatewayId}\u0000${sessionId}`).digest('base64url');
  return `vs${h.replace(/[^A-Za-z0-9]/g, '').slice(0, 24)}`;
}

/** The refund number of an order: one full refund per order, so one number, reused on every retry. */
export function refundNoFor(outTradeNo: string): string {
  return `rf${outTradeNo}`;
}

/**
 * The refund number of a credit order (pay first, then choose): the
 * gateway asks once for the unspent rest (or the whole credit), a partial
 * refund of its own, so it never shares a number with a full refund.
 */
export function creditRefundNoFor(outTradeNo: string): string {
  return `rc${outTradeNo}`;
}

/** The one refund number of an order, by its kind. */
export function refundNoOf(order: { outTradeNo: string; kind: 'item' | 'credit' }): string {
  return order.kind === 'credit' ? creditRefundNoFor(order.outTradeNo) : refundNoFor(order.outTradeNo);
}

const PAID_PREFIX = 'paid-';

/** The id of the one `order.paid` (or, for a credit order, `credit.paid`) command of an order (8-64 characters, as CommandBody.id asks). */
export function paidCommandId(outTradeNo: string): string {
  return `${PAID_PREFIX}${outTradeNo}`;
}

/** The order a command id names, when it is an `order.paid` of ours. */
export function orderOfPaidCommand(commandId: string | undefined): string | undefined {
  if (!commandId?.startsWith(PAID_PREFIX)) return undefined;
  const no = commandId.slice(PAID_PREFIX.length);
  return OUT_TRADE_NO.test(no) ? no : undefined;
}
