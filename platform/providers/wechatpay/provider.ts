/**
 * The WeChat Pay adapter: the PaymentProvider port over WeChat Pay API v3
 * Native payments (mode `domestic`, CNY) or WeChat Pay Global v3 (mode
 * `global`: the machine prices in the merchant's currency, the tourist pays
 * from a CNY wallet).
 *
 *   domestic                                        global
 *   POST /v3/pay/transactions/native                POST /v3/global/transactions/native
 *   GET  /v3/pay/transactions/out-trade-no/{n}      GET  /v3/global/transactions/out-trade-no/{n}
 *   POST /v3/pay/transactions/out-trade-no/{n}/close POST /v3/global/transactions/out-trade-no/{n}/close
 *   GET  /v3/refund/domestic/refunds/{r}            GET  /v3/global/refunds/out-refund-no/{r}
 *   POST /v3/refund/domestic/refunds                POST /v3/global/refunds
 *   GET  /v3/bill/tradebill + download_url          GET  /v3/global/statements
 */
import { createHash } from 'node:crypto';
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import type { Log } from '../../../core/log.ts';
import type {
  CloseResult,
  CreatedPayment,
  CreatePaymentInput,
  NotificationReply,
  NotificationVerdict,
  PaymentProvider,
  PaymentState,
  RawNotification,
  RefundInput,
  RefundResult,
  RefundStatus,
  TradeBill,
} from '../port.ts';
import { parseDomesticTradeBill, parseGlobalStatement } from './bill.ts';
import { parseWechatPayConfig, type WechatPayConfig } from './config.ts';
import {
  errorBody,
  type FetchLike,
  jsonOf,
  refusedError,
  WechatPayHttp,
  type WechatResponse,
} from './http.ts';
import { ReplayGuard, verifyWechatNotification, wechatNotificationReply } from './notification.ts';
import { checkOwner, paymentState, TransactionSchema } from './transaction.ts';
import { header } from './verify.ts';

export interface WechatPayProviderOptions {
  /** A raw (unvalidated) config, or one already resolved by parseWechatPayConfig. */
  config: unknown;
  /** Where WeChat posts refund results; without it the one set on the merchant platform applies. */
  refundNotifyUrl?: string;
  fetch?: FetchLike;
  /** The clock for signatures and freshness checks (Unix ms). */
  now?: () => number;
  log?: Log;
}

const OUT_TRADE_NO = /^[A-Za-z0-9_-]{6,32}$/;
const OUT_REFUND_NO = /^[A-Za-z0-9_*@|-]{1,64}$/;
const NOT_FOUND_CODES = new Set(['ORDER_NOT_EXIST', 'ORDERNOTEXIST', 'RESOURCE_NOT_EXISTS', 'NOT_FOUND']);

function isResolved(c: unknown): c is WechatPayConfig {
  return typeof c === 'object' && c !== null && 'platformKeys' in c && c.platformKeys instanceof Map;
}

/** RFC 3339 in Beijing time, the form WeChat documents for time_expire ("2018-06-08T10:34:56+08:00"). */
export function beijingRfc3339(ms: number): string {
  const d = new Date(Math.floor(ms / 1000) * 1000 + 8 * 3600_000);
  return `${d.toISOString().slice(0, 19)}+08:00`;
}

function badInput(message: string, context: Record<string, unknown> = {}): VendgateError {
  return new VendgateError(ErrorCode.ProviderRefused, message, { ...context, retryable: false });
}

export class WechatPayProvider implements PaymentProvider {
  readonly name = 'wechat' as const;
  readonly config: WechatPayConfig;
  private readonly http: WechatPayHttp;
  private readonly now: () => number;
  private readonly replays: ReplayGuard;
  private readonly refundNotifyUrl: string | undefined;
  private readonly log: Log | undefined;

  constructor(opts: WechatPayProviderOptions) {
    this.config = isResolved(opts.config) ? opts.config : parseWechatPayConfig(opts.config);
    this.now = opts.now ?? Date.now;
    this.http = new WechatPayHttp(this.config, opts.fetch, this.now);
    this.replays = new ReplayGuard(this.config.maxClockSkewSeconds * 2000);
    this.refundNotifyUrl = opts.refundNotifyUrl;
    this.log = opts.log;
  }

  private get global(): boolean {
    return this.config.mode === 'global';
  }

  private checkOutTradeNo(no: string): void {
    if (!OUT_TRADE_NO.test(no)) {
      throw badInput('outTradeNo must be 6-32 characters of [A-Za-z0-9_-]', { field: 'outTradeNo' });
    }
  }

  private checkCurrency(currency: string, field: string): void {
    if (currency !== this.config.currency) {
      throw new VendgateError(
        ErrorCode.WechatCurrencyUnsupported,
        `${field} is in ${currency}, but this WeChat Pay merchant prices in ${this.config.currency}`,
        { field, retryable: false },
      );
    }
  }

  async create(input: CreatePaymentInput): Promise<CreatedPayment> {
    this.checkOutTradeNo(input.outTradeNo);
    this.checkCurrency(input.amount.currency, 'amount');
    if (!Number.isSafeInteger(input.amount.amount) || input.amount.amount <= 0) {
      throw new VendgateError(
        ErrorCode.ProviderAmountInvalid,
        'amount must be a positive integer of minor units',
      );
    }
    if ([...input.description].length > 127 || input.description.length === 0) {
      throw badInput('description must be 1-127 characters', { field: 'description' });
    }
    const body: Record<string, unknown> = {
      appid: this.config.appid,
      mchid: this.config.mchid,
      description: input.description,
      out_trade_no: input.outTradeNo,
      time_expire: beijingRfc3339(input.expiresAt),
      notify_url: input.notifyUrl,
      amount: { total: input.amount.amount, currency: input.amount.currency },
    };
    if (this.global) {
      body.trade_type = 'NATIVE';
      body.merchant_category_code = this.config.merchantCategoryCode;
    }
    const path = this.global ? '/v3/global/transactions/native' : '/v3/pay/transactions/native';
    const r = await this.http.request('POST', path, { json: body });
    if (r.status !== 200) throw refusedError('create', r);
    const j = jsonOf(r, 'create') as { code_url?: unknown };
    if (typeof j.code_url !== 'string' || !j.code_url) {
      throw new VendgateError(ErrorCode.ProviderResponseInvalid, 'create: the answer has no code_url', {
        retryable: false,
      });
    }
    this.log?.info({ outTradeNo: input.outTradeNo, mode: this.config.mode }, 'wechatpay order created');
    return { qrContent: j.code_url };
  }

  private transactionPath(outTradeNo: string): string {
    const prefix = this.global ? '/v3/global/transactions' : '/v3/pay/transactions';
    return `${prefix}/out-trade-no/${encodeURIComponent(outTradeNo)}`;
  }

  async query(outTradeNo: string): Promise<PaymentState> {
    this.checkOutTradeNo(outTradeNo);
    const r = await this.http.request(
      'GET',
      `${this.transactionPath(outTradeNo)}?mchid=${encodeURIComponent(this.config.mchid)}`,
    );
    if (r.status === 404 || (r.status === 400 && NOT_FOUND_CODES.has(errorBody(r)?.code ?? ''))) {
      return { kind: 'not-found' };
    }
    if (r.status !== 200) throw refusedError('query', r);
    const t = TransactionSchema.safeParse(jsonOf(r, 'query'));
    if (!t.success) {
      throw new VendgateError(
        ErrorCode.ProviderResponseInvalid,
        `query: ${t.error.issues[0]?.path.join('.')} is missing or invalid`,
        { retryable: false },
      );
    }
    checkOwner(t.data, this.config, 'query');
    if (t.data.out_trade_no !== outTradeNo) {
      throw new VendgateError(ErrorCode.ProviderResponseInvalid, 'query: the answer is about another order', {
        retryable: false,
      });
    }
    return paymentState(t.data, this.config, 'query');
  }

  async close(outTradeNo: string): Promise<CloseResult> {
    this.checkOutTradeNo(outTradeNo);
    const r = await this.http.request('POST', `${this.transactionPath(outTradeNo)}/close`, {
      json: { mchid: this.config.mchid },
    });
    if (r.status === 204 || r.status === 200) return { kind: 'closed' };
    const code = errorBody(r)?.code ?? '';
    // "ORDERPAID 订单已支付": the payer was quicker; treat as paid.
    if (code === 'ORDERPAID' || code === 'ORDER_PAID') return { kind: 'already-paid' };
    if (code === 'ORDER_CLOSED' || code === 'ORDERCLOSED') return { kind: 'closed' };
    if (r.status === 404 || NOT_FOUND_CODES.has(code)) return { kind: 'not-found' };
    throw refusedError('close', r);
  }

  async refund(input: RefundInput): Promise<RefundResult> {
    this.checkOutTradeNo(input.outTradeNo);
    if (!OUT_REFUND_NO.test(input.outRefundNo)) {
      throw badInput('outRefundNo must be 1-64 characters of [A-Za-z0-9_-|*@]', { field: 'outRefundNo' });
    }
    this.checkCurrency(input.amount.currency, 'amount');
    this.checkCurrency(input.total.currency, 'total');
    if (input.amount.amount <= 0 || input.amount.amount > input.total.amount) {
      throw new VendgateError(
        ErrorCode.ProviderAmountInvalid,
        'refund amount must be positive and at most the total',
      );
    }
    // Look first: the same out_refund_no refunds at most once, and a retry of
    // one WeChat already took must say so rather than look like a new refund.
    const existing = await this.findRefund(input.outRefundNo);
    if (existing) {
      if (existing.out_trade_no !== input.outTradeNo) {
        return {
          kind: 'refused',
          code: 'OUT_REFUND_NO_USED',
          message: 'outRefundNo belongs to another order',
        };
      }
      if (existing.status === 'SUCCESS' || existing.status === 'PROCESSING') {
        return { kind: 'already-refunded', refundId: existing.refund_id };
      }
      return { kind: 'refused', code: existing.status, message: `the refund is ${existing.status}` };
    }
    const body: Record<string, unknown> = {
      out_trade_no: input.outTradeNo,
      out_refund_no: input.outRefundNo,
      reason: input.reason.slice(0, 80),
      amount: { refund: input.amount.amount, total: input.total.amount, currency: input.amount.currency },
    };
    if (this.global) {
      body.appid = this.config.appid;
      body.mchid = this.config.mchid;
    }
    if (this.refundNotifyUrl) body.notify_url = this.refundNotifyUrl;
    const r = await this.http.request(
      'POST',
      this.global ? '/v3/global/refunds' : '/v3/refund/domestic/refunds',
      {
        json: body,
      },
    );
    if (r.status === 401 || r.status === 403) throw refusedError('refund', r);
    if (r.status !== 200) {
      const e = errorBody(r);
      return { kind: 'refused', code: e?.code ?? String(r.status), message: e?.message ?? '' };
    }
    const j = jsonOf(r, 'refund') as { refund_id?: unknown; id?: unknown; status?: unknown };
    const refundId =
      typeof j.refund_id === 'string' ? j.refund_id : typeof j.id === 'string' ? j.id : undefined;
    if (!refundId) {
      throw new VendgateError(ErrorCode.ProviderResponseInvalid, 'refund: the answer has no refund_id', {
        retryable: false,
      });
    }
    this.log?.info(
      { outTradeNo: input.outTradeNo, outRefundNo: input.outRefundNo },
      'wechatpay refund accepted',
    );
    if (j.status === 'ABNORMAL' || j.status === 'CLOSED') {
      return { kind: 'refused', code: j.status, message: `the refund is ${j.status}` };
    }
    return { kind: 'accepted', refundId };
  }

  /** 查询单笔退款 (GET /v3/refund/domestic/refunds/{out_refund_no}): SUCCESS, PROCESSING, CLOSED or ABNORMAL. */
  async queryRefund(_outTradeNo: string, outRefundNo: string): Promise<RefundStatus> {
    const r = await this.findRefund(outRefundNo);
    if (!r) return { kind: 'not-found' };
    if (r.status === 'SUCCESS') return { kind: 'succeeded', refundId: r.refund_id };
    if (r.status === 'PROCESSING') return { kind: 'processing' };
    return { kind: 'failed', status: r.status };
  }

  /** The refund WeChat knows under `outRefundNo`, or undefined when it knows none. */
  private async findRefund(
    outRefundNo: string,
  ): Promise<{ refund_id: string; out_trade_no: string; status: string } | undefined> {
    const path = this.global
      ? `/v3/global/refunds/out-refund-no/${encodeURIComponent(outRefundNo)}?mchid=${encodeURIComponent(this.config.mchid)}`
      : `/v3/refund/domestic/refunds/${encodeURIComponent(outRefundNo)}`;
    const r = await this.http.request('GET', path);
    if (r.status === 404 || (r.status === 400 && NOT_FOUND_CODES.has(errorBody(r)?.code ?? '')))
      return undefined;
    if (r.status !== 200) throw refusedError('refund query', r);
    const j = jsonOf(r, 'refund query') as Record<string, unknown>;
    const refundId = j.refund_id ?? j.id;
    const status = j.status ?? j.refund_status;
    if (typeof refundId !== 'string' || typeof j.out_trade_no !== 'string' || typeof status !== 'string') {
      throw new VendgateError(
        ErrorCode.ProviderResponseInvalid,
        'refund query: refund_id or status is missing',
        {
          retryable: false,
        },
      );
    }
    return { refund_id: refundId, out_trade_no: j.out_trade_no, status };
  }

  verifyNotification(n: RawNotification): NotificationVerdict {
    return verifyWechatNotification(n, this.config, this.now(), this.replays);
  }

  replyToNotification(received: boolean): NotificationReply {
    return wechatNotificationReply(received);
  }

  async fetchBill(day: string): Promise<TradeBill> {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(Date.parse(`${day}T00:00:00+08:00`))) {
      throw badInput('day must be YYYY-MM-DD', { field: 'day' });
    }
    const rows = this.global ? await this.fetchGlobalStatement(day) : await this.fetchDomesticBill(day);
    return { provider: 'wechat', day, rows };
  }

  private noStatement(r: WechatResponse): boolean {
    // "NO_STATEMENT_EXIST 账单文件不存在": no successful trade that day, so an empty bill.
    return errorBody(r)?.code === 'NO_STATEMENT_EXIST';
  }

  private stillCreating(r: WechatResponse): VendgateError | undefined {
    if (errorBody(r)?.code !== 'STATEMENT_CREATING') return undefined;
    return new VendgateError(
      ErrorCode.ProviderUnavailable,
      'bill: WeChat Pay is still creating it; retry later',
      {
        retryable: true,
        providerCode: 'STATEMENT_CREATING',
      },
    );
  }

  private async fetchDomesticBill(day: string) {
    const r = await this.http.request('GET', `/v3/bill/tradebill?bill_date=${day}&bill_type=ALL`);
    if (r.status !== 200) {
      if (this.noStatement(r)) return [];
      throw this.stillCreating(r) ?? refusedError('tradebill', r);
    }
    const j = jsonOf(r, 'tradebill') as { hash_type?: unknown; hash_value?: unknown; download_url?: unknown };
    if (j.hash_type !== 'SHA1' || typeof j.hash_value !== 'string' || typeof j.download_url !== 'string') {
      throw new VendgateError(
        ErrorCode.ProviderResponseInvalid,
        'tradebill: expected hash_type SHA1, hash_value and download_url',
        { retryable: false },
      );
    }
    // "该接口响应的信息请求头中不包含微信接口响应的签名值, 因此需要跳过验签的流程": the hash stands in.
    const file = await this.http.request('GET', j.download_url, {
      unsigned: true,
      maxBytes: this.config.maxBillBytes,
    });
    if (file.status !== 200) throw refusedError('bill download', file);
    const sha1 = createHash('sha1').update(file.body).digest('hex');
    if (sha1 !== j.hash_value.toLowerCase()) {
      throw new VendgateError(
        ErrorCode.WechatBillHashMismatch,
        'bill download: the file does not match hash_value',
        {
          retryable: true,
        },
      );
    }
    return parseDomesticTradeBill(file.body.toString('utf8'), this.config.mchid);
  }

  private async fetchGlobalStatement(day: string) {
    const date = day.replaceAll('-', '');
    let statementSha1 = '';
    const r = await this.http.request(
      'GET',
      `/v3/global/statements?date=${date}&mchid=${encodeURIComponent(this.config.mchid)}`,
      {
        maxBytes: this.config.maxBillBytes,
        // Global statements sign `timestamp\nnonce\nWechatpay-Statement-Sha1\n`, not the file.
        signedPart: (res) => {
          statementSha1 = res.status === 200 ? (header(res.headers, 'Wechatpay-Statement-Sha1') ?? '') : '';
          return res.status === 200 ? statementSha1 : res.body;
        },
      },
    );
    if (r.status !== 200) {
      if (this.noStatement(r)) return [];
      throw this.stillCreating(r) ?? refusedError('statements', r);
    }
    if (!/^[0-9a-fA-F]{40}$/.test(statementSha1)) {
      throw new VendgateError(
        ErrorCode.ProviderResponseInvalid,
        'statements: no Wechatpay-Statement-Sha1 header',
        {
          retryable: false,
        },
      );
    }
    if (createHash('sha1').update(r.body).digest('hex') !== statementSha1.toLowerCase()) {
      throw new VendgateError(
        ErrorCode.WechatBillHashMismatch,
        'statements: the file does not match its SHA1',
        {
          retryable: true,
        },
      );
    }
    return parseGlobalStatement(r.body.toString('utf8'), this.config.mchid, this.config.currency);
  }
}
