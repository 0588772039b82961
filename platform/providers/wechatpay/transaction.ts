/**
 * The transaction and refund resources WeChat Pay returns from a query and
 * carries (encrypted) in a notification, and their mapping to the port's
 * normalised states. Domestic (API v3 "查询订单" / "支付通知") and Global
 * ("Query Order" / "Payment Result Notification") share the shape; Global
 * adds the payer's wallet currency and the exchange rate.
 */
import { z } from 'zod';
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import type { PaidPayment, PaymentState } from '../port.ts';
import { minorUnitsField, scaledRateToDecimal } from './amounts.ts';
import type { WechatPayConfig } from './config.ts';

export const TransactionSchema = z.object({
  mchid: z.string(),
  appid: z.string(),
  out_trade_no: z.string(),
  transaction_id: z.string().optional(),
  trade_state: z.string(),
  success_time: z.string().optional(),
  payer: z
    .object({
      openid: z.string().optional(),
      sp_openid: z.string().optional(),
      sub_openid: z.string().optional(),
    })
    .optional(),
  amount: z
    .object({
      total: z.number().optional(),
      currency: z.string().optional(),
      payer_total: z.number().optional(),
      payer_currency: z.string().optional(),
      exchange_rate: z.object({ type: z.string().optional(), rate: z.number() }).optional(),
    })
    .optional(),
});
export type Transaction = z.infer<typeof TransactionSchema>;

export const RefundResourceSchema = z.object({
  mchid: z.string(),
  out_trade_no: z.string(),
  out_refund_no: z.string(),
  refund_id: z.string().optional(),
  refund_status: z.string(),
});
export type RefundResource = z.infer<typeof RefundResourceSchema>;

/** Throws ProviderResponseInvalid unless the resource belongs to this merchant and app. */
export function checkOwner(t: { mchid: string; appid?: string }, cfg: WechatPayConfig, where: string): void {
  if (t.mchid !== cfg.mchid) {
    throw new VendgateError(ErrorCode.ProviderResponseInvalid, `${where}: mchid is not this merchant's`, {
      where,
    });
  }
  if (t.appid !== undefined && t.appid !== cfg.appid) {
    throw new VendgateError(ErrorCode.ProviderResponseInvalid, `${where}: appid is not this merchant's`, {
      where,
    });
  }
}

function fail(where: string, what: string): never {
  throw new VendgateError(ErrorCode.ProviderResponseInvalid, `${where}: ${what}`, { where });
}

/** A paid (SUCCESS or REFUND) transaction as the port's PaidPayment. */
export function paidPayment(t: Transaction, cfg: WechatPayConfig, where: string): PaidPayment {
  if (!t.transaction_id) fail(where, 'a paid transaction has no transaction_id');
  if (!t.amount) fail(where, 'a paid transaction has no amount');
  const total = minorUnitsField(t.amount.total, `${where} amount.total`);
  const currency = t.amount.currency ?? 'CNY';
  if (currency !== cfg.currency)
    fail(where, `amount.currency ${currency} is not the merchant's ${cfg.currency}`);
  const paidAt = t.success_time ? Date.parse(t.success_time) : Number.NaN;
  if (!Number.isFinite(paidAt)) fail(where, 'success_time is missing or not an RFC 3339 time');
  const payment: PaidPayment = {
    outTradeNo: t.out_trade_no,
    transactionId: t.transaction_id,
    amount: { amount: total, currency },
    paidAt,
  };
  // Global: the order is paid on the merchant-currency total; what the
  // tourist's wallet paid (usually CNY) and the rate are reported beside it.
  if (cfg.mode === 'global' && t.amount.payer_currency !== undefined) {
    const payerTotal = minorUnitsField(t.amount.payer_total, `${where} amount.payer_total`);
    if (!/^[A-Z]{3}$/.test(t.amount.payer_currency)) fail(where, 'amount.payer_currency is not ISO 4217');
    payment.payer = { amount: { amount: payerTotal, currency: t.amount.payer_currency } };
    if (t.amount.exchange_rate) {
      payment.payer.exchangeRate = scaledRateToDecimal(
        t.amount.exchange_rate.rate,
        `${where} exchange_rate.rate`,
      );
    }
  }
  const payerId = t.payer?.openid ?? t.payer?.sub_openid ?? t.payer?.sp_openid;
  if (payerId) payment.payerId = payerId;
  return payment;
}

/**
 * trade_state -> PaymentState ("交易状态": SUCCESS, REFUND, NOTPAY, CLOSED,
 * REVOKED, USERPAYING, PAYERROR). Only SUCCESS is paid; NOTPAY is not final.
 */
export function paymentState(t: Transaction, cfg: WechatPayConfig, where: string): PaymentState {
  switch (t.trade_state) {
    case 'SUCCESS':
      return { kind: 'paid', payment: paidPayment(t, cfg, where) };
    case 'REFUND':
      return { kind: 'refunded', payment: paidPayment(t, cfg, where) };
    case 'NOTPAY':
    case 'USERPAYING':
    case 'ACCEPT':
      return { kind: 'pending' };
    case 'CLOSED':
    case 'REVOKED':
    case 'PAYERROR':
      return { kind: 'closed' };
    default:
      return fail(where, `unknown trade_state ${JSON.stringify(t.trade_state).slice(0, 40)}`);
  }
}

/** refund_status -> the port's refund notification status. */
export function refundStatus(status: string): 'success' | 'closed' | 'abnormal' | undefined {
  switch (status) {
    case 'SUCCESS':
      return 'success';
    case 'CLOSED':
      return 'closed';
    case 'ABNORMAL':
      return 'abnormal';
    default:
      return undefined;
  }
}
