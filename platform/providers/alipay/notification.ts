/**
 * Asynchronous notifications (opendocs.alipay.com/open/270/105902, 异步通知
 * 参数说明; opendocs.alipay.com/common/02mse7, 异步通知验签): a form POST,
 * `notify_type=trade_status_sync`, signed RSA2 by Alipay over every
 * parameter except `sign` and `sign_type`, sorted, decoded. After the
 * signature: the notification must name this app (`app_id`) and merchant
 * (`seller_id`), and `out_trade_no` / `total_amount` must match the order
 * the platform expects. Only TRADE_SUCCESS and TRADE_FINISHED are paid.
 */
import type { KeyObject } from 'node:crypto';
import type { Money } from '../../../core/money.ts';
import type { NotificationVerdict, RawNotification } from '../port.ts';
import { ALIPAY_CURRENCY, yuanToFen } from './amount.ts';
import { decodeForm } from './form.ts';
import { contentToSign, rsa2Verify } from './sign.ts';
import { parseBeijing } from './time.ts';

/** What the platform knows about an order, to check a notification against. */
export interface ExpectedOrder {
  amount: Money;
}

/** Looks up the order a notification names; undefined when the platform has no such order. */
export type ExpectedOrderLookup = (outTradeNo: string) => ExpectedOrder | undefined;

export interface NotificationCheck {
  appId: string;
  sellerId: string;
  alipayPublicKey: KeyObject;
  maxAgeMs: number;
  maxSkewMs: number;
  now: number;
  maxBodyBytes: number;
  expectedOrder?: ExpectedOrderLookup;
}

const PAID = new Set(['TRADE_SUCCESS', 'TRADE_FINISHED']);
const KNOWN = new Set(['WAIT_BUYER_PAY', 'TRADE_CLOSED', 'TRADE_SUCCESS', 'TRADE_FINISHED']);

function reject(reason: string): NotificationVerdict {
  return { kind: 'rejected', reason };
}

export function verifyAlipayNotification(n: RawNotification, c: NotificationCheck): NotificationVerdict {
  const contentType = (n.headers['content-type'] ?? '').toLowerCase();
  if (!contentType.startsWith('application/x-www-form-urlencoded')) {
    return reject(`content-type "${contentType.slice(0, 60)}" is not a form post`);
  }
  if (n.body.length === 0) return reject('empty body');
  if (n.body.length > c.maxBodyBytes) return reject(`body larger than ${c.maxBodyBytes} bytes`);
  // Form bodies are ASCII; anything else was not percent-encoded by Alipay.
  if (n.body.some((b) => b > 0x7e || b < 0x20)) return reject('the body has bytes a form encoding never has');
  const form = decodeForm(n.body.toString('latin1'));
  if (!form.ok) return reject(`malformed form body: ${form.reason}`);
  const p = form.params;
  if (p.sign_type !== 'RSA2') return reject(`sign_type "${(p.sign_type ?? '').slice(0, 10)}" is not RSA2`);
  if (!p.sign) return reject('no sign');
  if (!rsa2Verify(contentToSign(p, ['sign', 'sign_type']), p.sign, c.alipayPublicKey)) {
    return reject('the signature is not Alipay (forged, altered or truncated)');
  }

  // Signed by Alipay from here on; now check it is ours and current.
  if (p.notify_type !== 'trade_status_sync')
    return reject(`notify_type "${p.notify_type ?? ''}" is not a trade status`);
  if (p.app_id !== c.appId) return reject('app_id is another app');
  if (p.seller_id !== c.sellerId) return reject('seller_id is another merchant');
  if (!p.notify_id) return reject('no notify_id');
  const notifyTime = parseBeijing(p.notify_time ?? '');
  if (notifyTime === undefined) return reject('notify_time is not "yyyy-MM-dd HH:mm:ss"');
  if (c.now - notifyTime > c.maxAgeMs) return reject('stale: notify_time is older than the retry window');
  if (notifyTime - c.now > c.maxSkewMs) return reject('notify_time is in the future');
  const outTradeNo = p.out_trade_no;
  if (!outTradeNo) return reject('no out_trade_no');
  const status = p.trade_status ?? '';
  if (!KNOWN.has(status)) return reject(`unknown trade_status "${status.slice(0, 30)}"`);
  let total: number;
  try {
    total = yuanToFen(p.total_amount ?? '', 'total_amount');
  } catch (err) {
    return reject((err as Error).message);
  }
  if (c.expectedOrder) {
    const order = c.expectedOrder(outTradeNo);
    if (!order) return reject('out_trade_no is no order of ours');
    if (order.amount.currency !== ALIPAY_CURRENCY || order.amount.amount !== total) {
      return reject('total_amount differs from the order amount');
    }
  }

  // Refunds also arrive as trade_status_sync, with the refund request's number in out_biz_no.
  if (p.out_biz_no && p.refund_fee && (status === 'TRADE_CLOSED' || PAID.has(status))) {
    return { kind: 'refund', outTradeNo, outRefundNo: p.out_biz_no, status: 'success' };
  }
  if (!PAID.has(status)) return { kind: 'not-paid', outTradeNo };
  const tradeNo = p.trade_no;
  if (!tradeNo) return reject('a paid notification without trade_no');
  const paidAt = parseBeijing(p.gmt_payment ?? '');
  if (paidAt === undefined) return reject('a paid notification without a valid gmt_payment');
  const payerId = p.buyer_open_id || p.buyer_id || undefined;
  return {
    kind: 'paid',
    payment: {
      outTradeNo,
      transactionId: tradeNo,
      amount: { amount: total, currency: ALIPAY_CURRENCY },
      ...(payerId ? { payerId } : {}),
      paidAt,
    },
  };
}
