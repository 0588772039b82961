/**
 * The Alipay open platform adapter (OpenAPI 2.0 gateway, RSA2 keys in
 * public-key mode) behind the platform's PaymentProvider port:
 * alipay.trade.precreate / query / close / refund and the trade bill
 * (opendocs.alipay.com/open/02ekfg, /02ekfh, /02o6e7, /02ekfk, /028woc).
 */
import type { KeyObject } from 'node:crypto';
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import { type Log, silentLogger } from '../../../core/log.ts';
import type {
  CloseResult,
  CreatedPayment,
  CreatePaymentInput,
  NotificationReply,
  NotificationVerdict,
  PaidPayment,
  PaymentProvider,
  PaymentState,
  RawNotification,
  RefundInput,
  RefundResult,
  RefundStatus,
  TradeBill,
} from '../port.ts';
import { ALIPAY_CURRENCY, moneyToYuan, yuanToFen } from './amount.ts';
import { parseTradeBillZip } from './bill.ts';
import { type AlipayConfigInput, parseAlipayConfig } from './config.ts';
import { AlipayGateway, businessError, type GatewayAnswer } from './gateway.ts';
import { boundedFetch, type FetchLike } from './http.ts';
import { loadPrivateKey, loadPublicKey } from './keys.ts';
import { type ExpectedOrderLookup, verifyAlipayNotification } from './notification.ts';
import { formatBeijing, isCalendarDay, parseBeijing } from './time.ts';

export interface AlipayProviderOptions {
  log?: Log;
  /** The order a notification names, so one for another order amount is rejected; see notification.ts. */
  expectedOrder?: ExpectedOrderLookup;
  fetch?: FetchLike;
  now?: () => number;
}

const OUT_TRADE_NO = /^[A-Za-z0-9_-]{6,32}$/;
const TRADE_NOT_EXIST = 'ACQ.TRADE_NOT_EXIST';

export class AlipayProvider implements PaymentProvider {
  readonly name = 'alipay' as const;
  private readonly gateway: AlipayGateway;
  private readonly alipayPublicKey: KeyObject;
  private readonly log: Log;
  private readonly now: () => number;
  private readonly config;

  constructor(
    config: AlipayConfigInput,
    private readonly options: AlipayProviderOptions = {},
  ) {
    this.config = parseAlipayConfig(config);
    this.log = (options.log ?? silentLogger()).child({ provider: 'alipay' });
    this.now = options.now ?? Date.now;
    this.alipayPublicKey = loadPublicKey(this.config.alipayPublicKey, 'alipayPublicKey');
    this.gateway = new AlipayGateway({
      gatewayUrl: this.config.gatewayUrl,
      appId: this.config.appId,
      appPrivateKey: loadPrivateKey(this.config.appPrivateKey, 'appPrivateKey'),
      alipayPublicKey: this.alipayPublicKey,
      timeoutMs: this.config.requestTimeoutMs,
      maxResponseBytes: this.config.maxResponseBytes,
      log: this.log,
      fetch: options.fetch,
      now: this.now,
    });
  }

  async create(input: CreatePaymentInput): Promise<CreatedPayment> {
    checkOutTradeNo(input.outTradeNo);
    if (input.description.length === 0 || input.description.length > 127) {
      throw inputError('description must be 1-127 characters');
    }
    const a = await this.gateway.call(
      'alipay.trade.precreate',
      {
        out_trade_no: input.outTradeNo,
        total_amount: moneyToYuan(input.amount, 'amount'),
        subject: input.description,
        // time_expire is the absolute deadline to pay (alipay.trade.precreate request parameters).
        time_expire: formatBeijing(input.expiresAt),
      },
      input.notifyUrl,
    );
    if (a.code !== '10000') throw businessError('alipay.trade.precreate', a);
    const qr = a.fields.qr_code;
    if (typeof qr !== 'string' || !qr.startsWith('https://qr.alipay.com/')) {
      throw new VendgateError(
        ErrorCode.AlipayResponseInvalid,
        'alipay.trade.precreate: no https://qr.alipay.com/ qr_code',
        {
          retryable: false,
        },
      );
    }
    if (a.fields.out_trade_no !== input.outTradeNo) throw mismatch('alipay.trade.precreate');
    this.log.info({ outTradeNo: input.outTradeNo }, 'alipay trade precreated');
    return { qrContent: qr };
  }

  async query(outTradeNo: string): Promise<PaymentState> {
    checkOutTradeNo(outTradeNo);
    const a = await this.gateway.call('alipay.trade.query', { out_trade_no: outTradeNo });
    // The trade exists at Alipay only once the payer scanned the code: before that it is simply not paid yet.
    if (a.subCode === TRADE_NOT_EXIST) return { kind: 'pending' };
    if (a.code !== '10000') throw businessError('alipay.trade.query', a);
    if (a.fields.out_trade_no !== outTradeNo) throw mismatch('alipay.trade.query');
    switch (a.fields.trade_status) {
      case 'WAIT_BUYER_PAY':
        return { kind: 'pending' };
      case 'TRADE_SUCCESS':
      case 'TRADE_FINISHED':
        return { kind: 'paid', payment: paidFrom('alipay.trade.query', a) };
      case 'TRADE_CLOSED':
        // Closed unpaid, or paid and then fully refunded (then Alipay still reports the payment date).
        return typeof a.fields.send_pay_date === 'string'
          ? { kind: 'refunded', payment: paidFrom('alipay.trade.query', a) }
          : { kind: 'closed' };
      default:
        throw new VendgateError(
          ErrorCode.AlipayResponseInvalid,
          `alipay.trade.query: unknown trade_status "${String(a.fields.trade_status).slice(0, 30)}"`,
          { retryable: false },
        );
    }
  }

  async close(outTradeNo: string): Promise<CloseResult> {
    checkOutTradeNo(outTradeNo);
    const a = await this.gateway.call('alipay.trade.close', { out_trade_no: outTradeNo });
    if (a.code === '10000') return { kind: 'closed' };
    if (a.subCode === TRADE_NOT_EXIST) return { kind: 'not-found' };
    if (a.subCode === 'ACQ.TRADE_STATUS_ERROR') {
      // Paid or already closed: the query says which.
      const state = await this.query(outTradeNo);
      if (state.kind === 'paid' || state.kind === 'refunded') return { kind: 'already-paid' };
      if (state.kind === 'closed') return { kind: 'closed' };
    }
    throw businessError('alipay.trade.close', a);
  }

  async refund(input: RefundInput): Promise<RefundResult> {
    checkOutTradeNo(input.outTradeNo);
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(input.outRefundNo))
      throw inputError('outRefundNo must be 1-64 of [A-Za-z0-9_-]');
    const refundAmount = moneyToYuan(input.amount, 'amount');
    moneyToYuan(input.total, 'total');
    if (input.amount.amount > input.total.amount) throw inputError('the refund exceeds the paid total');
    const a = await this.gateway.call('alipay.trade.refund', {
      out_trade_no: input.outTradeNo,
      refund_amount: refundAmount,
      out_request_no: input.outRefundNo,
      refund_reason: input.reason.slice(0, 256),
    });
    if (a.code !== '10000') {
      return { kind: 'refused', code: a.subCode ?? a.code, message: a.subMsg ?? a.msg };
    }
    const tradeNo = typeof a.fields.trade_no === 'string' ? a.fields.trade_no : '';
    // Alipay has no refund id: the refund is named by the trade and out_request_no.
    const refundId = `${tradeNo}/${input.outRefundNo}`;
    // fund_change=N: no money moved by this call, i.e. a repeat of a refund already made.
    if (a.fields.fund_change === 'Y') {
      this.log.info(
        { outTradeNo: input.outTradeNo, outRefundNo: input.outRefundNo },
        'alipay refund accepted',
      );
      return { kind: 'accepted', refundId };
    }
    if (a.fields.fund_change === 'N') return { kind: 'already-refunded', refundId };
    throw new VendgateError(
      ErrorCode.AlipayResponseInvalid,
      'alipay.trade.refund: fund_change is neither Y nor N',
      {
        retryable: false,
      },
    );
  }

  /**
   * alipay.trade.fastpay.refund.query (统一收单交易退款查询) with the refund's
   * out_request_no. Its documented rule: when the answer carries the refund's
   * data and `refund_status` is absent or REFUND_SUCCESS, the refund is done;
   * an answer without the refund's data means there is no such refund, and
   * the refund call may be retried with the same out_request_no.
   */
  async queryRefund(outTradeNo: string, outRefundNo: string): Promise<RefundStatus> {
    checkOutTradeNo(outTradeNo);
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(outRefundNo))
      throw inputError('outRefundNo must be 1-64 of [A-Za-z0-9_-]');
    const method = 'alipay.trade.fastpay.refund.query';
    const a = await this.gateway.call(method, { out_trade_no: outTradeNo, out_request_no: outRefundNo });
    if (a.code !== '10000') {
      if (a.subCode === 'ACQ.TRADE_NOT_EXIST') return { kind: 'not-found' };
      throw businessError(method, a);
    }
    if (a.fields.out_request_no === undefined) return { kind: 'not-found' };
    if (a.fields.out_request_no !== outRefundNo || a.fields.out_trade_no !== outTradeNo)
      throw mismatch(method);
    const status = a.fields.refund_status;
    if (status === undefined || status === 'REFUND_SUCCESS') {
      const tradeNo = typeof a.fields.trade_no === 'string' ? a.fields.trade_no : '';
      return { kind: 'succeeded', refundId: `${tradeNo}/${outRefundNo}` };
    }
    return { kind: 'processing' };
  }

  verifyNotification(n: RawNotification): NotificationVerdict {
    const verdict = verifyAlipayNotification(n, {
      appId: this.config.appId,
      sellerId: this.config.sellerId,
      alipayPublicKey: this.alipayPublicKey,
      maxAgeMs: this.config.notificationMaxAgeMs,
      maxSkewMs: this.config.notificationMaxSkewMs,
      now: this.now(),
      maxBodyBytes: this.config.maxResponseBytes,
      expectedOrder: this.options.expectedOrder,
    });
    if (verdict.kind === 'rejected')
      this.log.warn({ reason: verdict.reason }, 'alipay notification rejected');
    return verdict;
  }

  /** Alipay stops retrying only on the literal body `success` (异步通知, 程序执行完后必须打印输出 success). */
  replyToNotification(received: boolean): NotificationReply {
    return { status: 200, contentType: 'text/plain; charset=utf-8', body: received ? 'success' : 'fail' };
  }

  async fetchBill(day: string): Promise<TradeBill> {
    if (!isCalendarDay(day)) throw inputError(`bill day "${day.slice(0, 20)}" is not YYYY-MM-DD`);
    const method = 'alipay.data.dataservice.bill.downloadurl.query';
    const a = await this.gateway.call(method, { bill_type: 'trade', bill_date: day });
    if (a.code !== '10000') {
      if (a.subCode === 'isp.bill_not_exist' || a.subCode === 'isv.bill_not_exist') {
        throw new VendgateError(ErrorCode.AlipayBillUnavailable, `no trade bill for ${day} yet`, {
          day,
          subCode: a.subCode,
          retryable: true,
        });
      }
      throw businessError(method, a);
    }
    const url = a.fields.bill_download_url;
    if (typeof url !== 'string' || !/^https?:\/\//.test(url)) {
      throw new VendgateError(ErrorCode.AlipayResponseInvalid, `${method}: no bill_download_url`, {
        retryable: false,
      });
    }
    // The URL is valid for 30 s: download at once.
    const res = await boundedFetch(
      {
        url,
        method: 'GET',
        timeoutMs: this.config.requestTimeoutMs,
        maxBytes: this.config.maxBillBytes,
        what: 'trade bill download',
      },
      this.options.fetch,
    );
    const rows = parseTradeBillZip(res.body, {
      day,
      sellerId: this.config.sellerId,
      maxExpandedBytes: this.config.maxBillBytes,
    });
    this.log.info({ day, rows: rows.length }, 'alipay trade bill parsed');
    return { provider: 'alipay', day, rows };
  }
}

function paidFrom(method: string, a: GatewayAnswer): PaidPayment {
  const f = a.fields;
  const str = (k: string) => (typeof f[k] === 'string' ? (f[k] as string) : undefined);
  const tradeNo = str('trade_no');
  const paidAt = parseBeijing(str('send_pay_date') ?? '');
  if (!tradeNo || paidAt === undefined) {
    throw new VendgateError(
      ErrorCode.AlipayResponseInvalid,
      `${method}: a paid trade without trade_no or send_pay_date`,
      {
        retryable: false,
      },
    );
  }
  const payerId = str('buyer_open_id') || str('buyer_user_id') || undefined;
  return {
    outTradeNo: str('out_trade_no')!,
    transactionId: tradeNo,
    amount: {
      amount: yuanToFen(str('total_amount') ?? '', `${method} total_amount`),
      currency: ALIPAY_CURRENCY,
    },
    ...(payerId ? { payerId } : {}),
    paidAt,
  };
}

function checkOutTradeNo(no: string): void {
  if (!OUT_TRADE_NO.test(no)) throw inputError('outTradeNo must be 6-32 of [A-Za-z0-9_-]');
}

function inputError(why: string): VendgateError {
  return new VendgateError(ErrorCode.AlipayInputInvalid, why, { retryable: false });
}

function mismatch(method: string): VendgateError {
  return new VendgateError(
    ErrorCode.AlipayResponseInvalid,
    `${method}: the answer is for another out_trade_no`,
    {
      retryable: false,
    },
  );
}
