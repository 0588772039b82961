/**
 * The one port every payment provider adapter implements (WeChat Pay,
 * Alipay). The platform's order, refund and reconciliation logic speaks only
 * this: integer minor units with an ISO 4217 currency, the platform's own
 * order number as `outTradeNo`, and verdicts instead of provider wire
 * formats. Each adapter lives in its own folder beside this file.
 */
import type { Money } from '../../core/money.ts';

/** The provider names used in the contract (`order.paid.provider`). */
export type ProviderName = 'wechat' | 'alipay';

export interface CreatePaymentInput {
  /** The platform's order number, 6-32 characters of [A-Za-z0-9_-]; unique per merchant. */
  outTradeNo: string;
  /** What the machine prices, in the merchant's currency. */
  amount: Money;
  /** Shown to the payer, e.g. "Cola 330 ml at m1". At most 127 characters. */
  description: string;
  /** The payment must be made before this (Unix ms). */
  expiresAt: number;
  /** Where the provider posts its asynchronous notification. */
  notifyUrl: string;
}

export interface CreatedPayment {
  /** What the payment QR encodes: WeChat `code_url` or Alipay `qr_code`. */
  qrContent: string;
}

/** The provider's view of one payment order, normalised. */
export type PaymentState =
  | { kind: 'pending' } // not paid yet (NOTPAY, WAIT_BUYER_PAY, USERPAYING), or not created at the provider yet
  | { kind: 'paid'; payment: PaidPayment }
  | { kind: 'closed' } // closed or revoked without payment
  | { kind: 'refunded'; payment: PaidPayment } // paid, then (partly) refunded at the provider
  | { kind: 'not-found' }; // the provider knows no such order

export interface PaidPayment {
  outTradeNo: string;
  /** The provider's transaction id (WeChat transaction_id, Alipay trade_no). */
  transactionId: string;
  /** What was charged in the merchant's (pricing) currency; the order is dispensed on this. */
  amount: Money;
  /**
   * Cross-border only: what the payer paid from their wallet (e.g. CNY) and
   * the rate applied, as the provider reports them. Absent for domestic payments.
   */
  payer?: { amount: Money; exchangeRate?: string };
  /** The provider's payer id (openid, buyer_id). Hash it before storing; never log it. */
  payerId?: string;
  /** When the provider says the payment succeeded (Unix ms). */
  paidAt: number;
}

export interface RefundInput {
  outTradeNo: string;
  /** Stable per refund: every retry of the same refund reuses it, so it refunds at most once. */
  outRefundNo: string;
  /** The refund amount (at most the paid amount). */
  amount: Money;
  /** The order's total paid amount (WeChat needs it). */
  total: Money;
  reason: string;
}

export type RefundResult =
  | { kind: 'accepted'; refundId: string } // the provider took it (WeChat PROCESSING/SUCCESS; Alipay fund_change=Y)
  | { kind: 'already-refunded'; refundId: string } // a retry of a refund the provider already made
  | { kind: 'refused'; code: string; message: string }; // final: the provider will not refund (e.g. no such order)

/** What the provider says of a refund it was sent, when asked later (callbacks alone are never trusted). */
export type RefundStatus =
  | { kind: 'succeeded'; refundId: string } // the money reached the payer
  | { kind: 'processing' } // taken, not yet done: ask again later
  | { kind: 'failed'; status: string } // WeChat CLOSED / ABNORMAL: the money did not reach the payer
  | { kind: 'not-found' }; // the provider has no refund under this number: sending it again is safe

export type CloseResult =
  | { kind: 'closed' }
  | { kind: 'already-paid' } // WeChat ORDERPAID / Alipay TRADE_SUCCESS: treat as paid (then refund or dispense)
  | { kind: 'not-found' }; // never created at the provider (Alipay: the payer never scanned)

/** An incoming notification as the HTTP layer received it: the raw bytes, untouched. */
export interface RawNotification {
  headers: Readonly<Record<string, string | undefined>>;
  /** The exact request body; signatures are over these bytes, never over a re-serialization. */
  body: Buffer;
}

export type NotificationVerdict =
  | { kind: 'paid'; payment: PaidPayment }
  | { kind: 'not-paid'; outTradeNo: string } // verified, but the trade is not (yet) paid: acknowledge, do nothing
  | { kind: 'refund'; outTradeNo: string; outRefundNo: string; status: 'success' | 'closed' | 'abnormal' }
  | { kind: 'rejected'; reason: string }; // forged, stale, undecryptable, malformed: answer with an error so it is retried or dropped

/** What the HTTP layer answers to the provider for a notification. */
export interface NotificationReply {
  status: number;
  contentType: string;
  body: string;
}

export interface BillRow {
  outTradeNo: string;
  transactionId: string;
  kind: 'payment' | 'refund';
  /** Payments positive, refunds positive too (kind says which). */
  amount: Money;
  outRefundNo?: string;
  at: number;
}

export interface TradeBill {
  provider: ProviderName;
  /** The bill's day, `YYYY-MM-DD` in the provider's time zone (Asia/Shanghai). */
  day: string;
  rows: BillRow[];
}

export interface PaymentProvider {
  readonly name: ProviderName;
  create(input: CreatePaymentInput): Promise<CreatedPayment>;
  query(outTradeNo: string): Promise<PaymentState>;
  close(outTradeNo: string): Promise<CloseResult>;
  refund(input: RefundInput): Promise<RefundResult>;
  /** The state of a refund sent earlier under `outRefundNo`. */
  queryRefund(outTradeNo: string, outRefundNo: string): Promise<RefundStatus>;
  /** Verifies before parsing: signature over the raw body, key id, freshness, then decryption. */
  verifyNotification(n: RawNotification): NotificationVerdict;
  /** The answer the provider expects: received (so it stops retrying), or an error (so it retries). */
  replyToNotification(received: boolean): NotificationReply;
  /** Downloads and parses the trade bill of one day; a bad checksum or an unknown row is an error. */
  fetchBill(day: string): Promise<TradeBill>;
}
