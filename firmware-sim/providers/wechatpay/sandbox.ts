/**
 * A WeChat Pay API v3 sandbox (Native payments, domestic or Global mode) on
 * the real wire format: the documented paths, the merchant's request
 * signature checked on every call, every answer signed with the sandbox's
 * own platform key, notifications encrypted with the APIv3 key and retried
 * on the documented schedule, the documented error bodies, and trade bills
 * for a day. A simulated phone pays, abandons or pays twice; a fault switch
 * makes the API answer 500 or not at all.
 *
 *   POST /v3/pay/transactions/native              POST /v3/global/transactions/native
 *   GET  /v3/pay/transactions/out-trade-no/{n}    GET  /v3/global/transactions/out-trade-no/{n}
 *   POST /v3/pay/transactions/out-trade-no/{n}/close  (global alike)
 *   POST /v3/refund/domestic/refunds              POST /v3/global/refunds
 *   GET  /v3/refund/domestic/refunds/{r}          GET  /v3/global/refunds/out-refund-no/{r}
 *   GET  /v3/bill/tradebill, /v3/billdownload/file GET  /v3/global/statements
 *   GET  /sandbox/phone?code=...  POST /sandbox/phone/{pay,abandon}  POST /sandbox/fault
 */
import { createHash, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type BillEntry, domesticAllBill, globalStatement } from './bills.ts';
import { phonePage } from './phone-page.ts';
import {
  beijingDay,
  beijingTimestamp,
  encryptNotificationResource,
  parseAuthorizationHeader,
  platformSignatureHeaders,
  verifyMerchantSignature,
} from './wire.ts';

/** "通知频率为15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h - 总计 24h4m" (支付通知 §2). */
export const RETRY_SCHEDULE_MS = [
  15_000, 15_000, 30_000, 180_000, 600_000, 1_200_000, 1_800_000, 1_800_000, 1_800_000, 3_600_000, 10_800_000,
  10_800_000, 10_800_000, 21_600_000, 21_600_000,
];

export interface WechatSandboxOptions {
  mode: 'domestic' | 'global';
  mchid: string;
  appid: string;
  merchantSerialNo: string;
  merchantPublicKeyPem: string;
  /** The 32-byte APIv3 key the merchant set on the merchant platform. */
  apiV3Key: string;
  /** Global: the merchant's pricing currency (EUR, USD, JPY, HKD...). */
  currency?: string;
  /** Global: the payer's wallet currency and the pricing -> wallet rate x 10^8. */
  payerCurrency?: string;
  exchangeRate?: number;
  /** Multiplies the retry schedule (0.001 turns 15 s into 15 ms). */
  retryScale?: number;
  /** How long a notification delivery may take before it counts as failed ("5秒内应答"). */
  deliveryTimeoutMs?: number;
  now?: () => number;
  log?: (event: Record<string, unknown>) => void;
}

interface Order {
  outTradeNo: string;
  description: string;
  notifyUrl: string;
  total: number;
  currency: string;
  codeUrl: string;
  timeExpire: number;
  state: 'NOTPAY' | 'USERPAYING' | 'SUCCESS' | 'REFUND' | 'CLOSED';
  transactionId?: string;
  successAt?: number;
  openid?: string;
  payerTotal?: number;
  refunded: number;
  requestBody: string;
}

interface Refund {
  refundId: string;
  outRefundNo: string;
  outTradeNo: string;
  refund: number;
  status: 'PROCESSING' | 'SUCCESS' | 'ABNORMAL' | 'CLOSED';
  createdAt: number;
  successAt?: number;
  notifyUrl?: string;
}

export interface Delivery {
  notificationId: string;
  eventType: string;
  outTradeNo: string;
  attempt: number;
  status: number | 'error';
  at: number;
}

type Fault = { mode: 'none' } | { mode: '5xx' | 'timeout'; remaining: number };

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class WechatPaySandbox {
  readonly platformSerial: string;
  readonly platformPublicKeyPem: string;
  private readonly platformKey: KeyObject;
  private readonly merchantKey: KeyObject;
  private readonly apiV3Key: Buffer;
  private readonly orders = new Map<string, Order>();
  private readonly ordersByCode = new Map<string, Order>();
  private readonly refunds = new Map<string, Refund>();
  private readonly billFiles = new Map<string, { text: string; expires: number }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly hanging = new Set<http.ServerResponse>();
  readonly deliveries: Delivery[] = [];
  private fault: Fault = { mode: 'none' };
  private server: http.Server | undefined;
  private baseUrl = '';
  private readonly now: () => number;
  private seq = 0;

  constructor(private readonly opts: WechatSandboxOptions) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.platformKey = privateKey;
    this.platformPublicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    this.platformSerial = randomBytes(20).toString('hex').toUpperCase();
    this.merchantKey = createPublicKey(opts.merchantPublicKeyPem);
    this.apiV3Key = Buffer.from(opts.apiV3Key, 'utf8');
    if (this.apiV3Key.length !== 32) throw new Error('apiV3Key must be 32 bytes');
    this.now = opts.now ?? Date.now;
  }

  private get global(): boolean {
    return this.opts.mode === 'global';
  }

  private get currency(): string {
    return this.global ? (this.opts.currency ?? 'HKD') : 'CNY';
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    const a = this.server.address() as AddressInfo;
    this.baseUrl = `http://${host}:${a.port}`;
    return this.baseUrl;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const r of this.hanging) r.destroy();
    this.hanging.clear();
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }

  private emit(e: Record<string, unknown>): void {
    this.opts.log?.(e);
  }

  // ---- HTTP plumbing ----

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > 1024 * 1024) {
        res.writeHead(413).end();
        return;
      }
      chunks.push(c as Buffer);
    }
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', this.baseUrl);
    try {
      if (url.pathname.startsWith('/sandbox/')) {
        await this.handleSandbox(req.method ?? 'GET', url, body, res);
        return;
      }
      if (this.fault.mode !== 'none') {
        const f = this.fault;
        f.remaining -= 1;
        if (f.remaining <= 0) this.fault = { mode: 'none' };
        if (f.mode === 'timeout') {
          this.hanging.add(res);
          res.on('close', () => this.hanging.delete(res));
          return; // never answers; the client's timeout decides
        }
        this.sendJson(res, 500, { code: 'SYSTEM_ERROR', message: '系统错误' });
        return;
      }
      this.authenticate(req, url, body);
      await this.route(req.method ?? 'GET', url, body, res);
    } catch (err) {
      if (err instanceof HttpError) this.sendJson(res, err.status, { code: err.code, message: err.message });
      else this.sendJson(res, 500, { code: 'SYSTEM_ERROR', message: (err as Error).message });
    }
  }

  /** Every API answer is signed over `timestamp\nnonce\nbody\n` with the platform key. */
  private sendJson(res: http.ServerResponse, status: number, value: unknown): void {
    const body = status === 204 ? Buffer.alloc(0) : Buffer.from(JSON.stringify(value), 'utf8');
    const headers: Record<string, string> = {
      ...platformSignatureHeaders(body, this.platformKey, this.platformSerial, this.now()),
      'Request-ID': randomBytes(8).toString('hex'),
    };
    if (status !== 204) headers['Content-Type'] = 'application/json; charset=utf-8';
    res.writeHead(status, headers).end(body);
  }

  private authenticate(req: http.IncomingMessage, url: URL, body: Buffer): void {
    const auth = parseAuthorizationHeader(req.headers.authorization);
    if (!auth) throw new HttpError(401, 'SIGN_ERROR', 'Authorization 头缺失或格式错误');
    if (auth.mchid !== this.opts.mchid) throw new HttpError(401, 'SIGN_ERROR', '商户号与签名不匹配');
    if (auth.serial !== this.opts.merchantSerialNo)
      throw new HttpError(401, 'SIGN_ERROR', '商户证书序列号错误');
    if (Math.abs(this.now() / 1000 - Number(auth.timestamp)) > 300) {
      throw new HttpError(401, 'SIGN_ERROR', '请求时间戳已过期');
    }
    if (
      !verifyMerchantSignature(
        auth,
        req.method ?? 'GET',
        `${url.pathname}${url.search}`,
        body,
        this.merchantKey,
      )
    ) {
      throw new HttpError(401, 'SIGN_ERROR', '签名错误');
    }
  }

  private json(body: Buffer): Record<string, unknown> {
    try {
      const v = JSON.parse(body.toString('utf8')) as unknown;
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {}
    throw new HttpError(400, 'PARAM_ERROR', '请求体不是JSON对象');
  }

  private async route(method: string, url: URL, body: Buffer, res: http.ServerResponse): Promise<void> {
    const p = url.pathname;
    const tx = this.global ? '/v3/global/transactions' : '/v3/pay/transactions';
    if (method === 'POST' && p === `${tx}/native`)
      return this.sendJson(res, 200, this.createOrder(this.json(body), body));
    const query = new RegExp(`^${tx}/out-trade-no/([^/]+)$`).exec(p);
    if (query && method === 'GET') {
      if (url.searchParams.get('mchid') !== this.opts.mchid)
        throw new HttpError(400, 'PARAM_ERROR', 'mchid 错误');
      return this.sendJson(res, 200, this.transactionJson(this.order(decodeURIComponent(query[1]!))));
    }
    const close = new RegExp(`^${tx}/out-trade-no/([^/]+)/close$`).exec(p);
    if (close && method === 'POST') {
      this.closeOrder(decodeURIComponent(close[1]!), this.json(body));
      return this.sendJson(res, 204, undefined);
    }
    const refunds = this.global ? '/v3/global/refunds' : '/v3/refund/domestic/refunds';
    if (method === 'POST' && p === refunds)
      return this.sendJson(res, 200, this.createRefund(this.json(body)));
    const refundQuery = (
      this.global
        ? /^\/v3\/global\/refunds\/out-refund-no\/([^/]+)$/
        : /^\/v3\/refund\/domestic\/refunds\/([^/]+)$/
    ).exec(p);
    if (refundQuery && method === 'GET') {
      const r = this.refunds.get(decodeURIComponent(refundQuery[1]!));
      if (!r) throw new HttpError(404, 'RESOURCE_NOT_EXISTS', '退款单不存在');
      return this.sendJson(res, 200, this.refundJson(r));
    }
    if (!this.global && method === 'GET' && p === '/v3/bill/tradebill') return this.tradeBill(url, res);
    if (!this.global && method === 'GET' && p === '/v3/billdownload/file') return this.billDownload(url, res);
    if (this.global && method === 'GET' && p === '/v3/global/statements') return this.statement(url, res);
    throw new HttpError(404, 'NOT_FOUND', '接口不存在');
  }

  // ---- orders ----

  private order(outTradeNo: string): Order {
    const o = this.orders.get(outTradeNo);
    if (!o) throw new HttpError(404, 'ORDER_NOT_EXIST', '订单不存在');
    return o;
  }

  private createOrder(b: Record<string, unknown>, raw: Buffer): Record<string, unknown> {
    if (b.appid !== this.opts.appid || b.mchid !== this.opts.mchid) {
      throw new HttpError(400, 'APPID_MCHID_NOT_MATCH', 'appid和mch_id不匹配');
    }
    const outTradeNo = b.out_trade_no;
    if (typeof outTradeNo !== 'string' || !/^[A-Za-z0-9_*|-]{6,32}$/.test(outTradeNo)) {
      throw new HttpError(400, 'PARAM_ERROR', 'out_trade_no 格式错误');
    }
    const amount = b.amount as { total?: unknown; currency?: unknown } | undefined;
    if (!amount || typeof amount.total !== 'number' || !Number.isInteger(amount.total) || amount.total <= 0) {
      throw new HttpError(400, 'PARAM_ERROR', 'amount.total 必须为正整数');
    }
    const currency = amount.currency ?? 'CNY';
    if (currency !== this.currency)
      throw new HttpError(400, 'PARAM_ERROR', `amount.currency 必须为 ${this.currency}`);
    if (typeof b.description !== 'string' || !b.description)
      throw new HttpError(400, 'PARAM_ERROR', '缺少 description');
    if (typeof b.notify_url !== 'string' || !/^https?:\/\//.test(b.notify_url)) {
      throw new HttpError(400, 'PARAM_ERROR', 'notify_url 格式错误');
    }
    if (this.global && (b.trade_type !== 'NATIVE' || typeof b.merchant_category_code !== 'string')) {
      throw new HttpError(400, 'PARAM_ERROR', 'trade_type 与 merchant_category_code 必填');
    }
    const timeExpire =
      typeof b.time_expire === 'string' ? Date.parse(b.time_expire) : this.now() + 2 * 3_600_000;
    if (!Number.isFinite(timeExpire)) throw new HttpError(400, 'PARAM_ERROR', 'time_expire 格式错误');
    const existing = this.orders.get(outTradeNo);
    if (existing) {
      // The same request again gets the same code_url; another one under the same number is refused.
      if (existing.requestBody === raw.toString('utf8')) return { code_url: existing.codeUrl };
      throw new HttpError(400, 'INVALID_REQUEST', '商户订单号重复');
    }
    const order: Order = {
      outTradeNo,
      description: b.description,
      notifyUrl: b.notify_url,
      total: amount.total,
      currency,
      codeUrl: `weixin://wxpay/bizpayurl?pr=${randomBytes(6).toString('base64url')}`,
      timeExpire,
      state: 'NOTPAY',
      refunded: 0,
      requestBody: raw.toString('utf8'),
    };
    this.orders.set(outTradeNo, order);
    this.ordersByCode.set(order.codeUrl, order);
    this.emit({ event: 'order-created', outTradeNo, total: order.total, currency });
    return { code_url: order.codeUrl };
  }

  private closeOrder(outTradeNo: string, b: Record<string, unknown>): void {
    if (b.mchid !== this.opts.mchid) throw new HttpError(400, 'PARAM_ERROR', 'mchid 错误');
    const o = this.order(outTradeNo);
    if (o.state === 'SUCCESS' || o.state === 'REFUND') throw new HttpError(400, 'ORDERPAID', '订单已支付');
    o.state = 'CLOSED';
    this.emit({ event: 'order-closed', outTradeNo });
  }

  private payerTotal(total: number): number {
    if (!this.global) return total;
    const rate = BigInt(this.opts.exchangeRate ?? 100_000_000);
    return Number((BigInt(total) * rate + 50_000_000n) / 100_000_000n);
  }

  private transactionJson(o: Order): Record<string, unknown> {
    const paid = o.state === 'SUCCESS' || o.state === 'REFUND';
    const desc: Record<Order['state'], string> = {
      NOTPAY: '订单未支付',
      USERPAYING: '用户支付中',
      SUCCESS: '支付成功',
      REFUND: '转入退款',
      CLOSED: '已关闭',
    };
    const amount: Record<string, unknown> = { total: o.total, currency: o.currency };
    if (paid) {
      amount.payer_total = o.payerTotal;
      amount.payer_currency = this.global ? (this.opts.payerCurrency ?? 'CNY') : 'CNY';
      if (this.global)
        amount.exchange_rate = { type: 'USERPAYMENT_RATE', rate: this.opts.exchangeRate ?? 100_000_000 };
    }
    const t: Record<string, unknown> = {
      appid: this.opts.appid,
      mchid: this.opts.mchid,
      out_trade_no: o.outTradeNo,
      trade_type: 'NATIVE',
      trade_state: o.state,
      trade_state_desc: desc[o.state],
      attach: '',
      amount,
    };
    if (paid) {
      Object.assign(t, {
        transaction_id: o.transactionId,
        bank_type: 'OTHERS',
        success_time: beijingTimestamp(o.successAt!),
        payer: { openid: o.openid },
      });
    }
    return t;
  }

  // ---- the phone ----

  private pay(codeUrl: string, times: number): Record<string, unknown> {
    const o = this.ordersByCode.get(codeUrl);
    if (!o) throw new HttpError(404, 'ORDER_NOT_EXIST', 'no order has this code');
    if (o.state === 'CLOSED') throw new HttpError(409, 'ORDER_CLOSED', '订单已关闭');
    if (o.state === 'NOTPAY' || o.state === 'USERPAYING') {
      if (this.now() > o.timeExpire) throw new HttpError(409, 'ORDER_CLOSED', '订单已过期');
      o.state = 'SUCCESS';
      o.transactionId = `4200${String(++this.seq).padStart(6, '0')}${randomBytes(9).toString('hex').slice(0, 18)}`;
      o.successAt = this.now();
      o.openid = `oSandbox${randomBytes(10).toString('hex')}`;
      o.payerTotal = this.payerTotal(o.total);
      this.emit({ event: 'paid', outTradeNo: o.outTradeNo, total: o.total });
    }
    // "同样的通知可能会多次发送给商户系统": paying twice sends the notification twice.
    for (let i = 0; i < times; i++) {
      this.notify(
        o.notifyUrl,
        'TRANSACTION.SUCCESS',
        '支付成功',
        'transaction',
        this.transactionJson(o),
        o.outTradeNo,
      );
    }
    return { ok: true, outTradeNo: o.outTradeNo, transactionId: o.transactionId };
  }

  private async handleSandbox(
    method: string,
    url: URL,
    body: Buffer,
    res: http.ServerResponse,
  ): Promise<void> {
    const plain = (status: number, value: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(value));
    };
    try {
      if (method === 'GET' && url.pathname === '/sandbox/phone') {
        const o = this.ordersByCode.get(url.searchParams.get('code') ?? '');
        res.writeHead(o ? 200 : 404, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end(
          phonePage(
            o && {
              codeUrl: o.codeUrl,
              description: o.description,
              total: o.total,
              currency: o.currency,
              state: o.state,
            },
          ),
        );
        return;
      }
      if (method === 'GET' && url.pathname === '/sandbox/deliveries') return plain(200, this.deliveries);
      const b = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
      if (method === 'POST' && url.pathname === '/sandbox/phone/pay') {
        const times = b.times === 2 ? 2 : 1;
        return plain(200, this.pay(String(b.code ?? ''), times));
      }
      if (method === 'POST' && url.pathname === '/sandbox/phone/abandon') {
        const o = this.ordersByCode.get(String(b.code ?? ''));
        if (!o) return plain(404, { ok: false, error: 'no order has this code' });
        // The payer scanned and walked away: the order stays unpaid (NOTPAY), nothing is notified.
        if (o.state === 'USERPAYING') o.state = 'NOTPAY';
        this.emit({ event: 'abandoned', outTradeNo: o.outTradeNo });
        return plain(200, { ok: true, outTradeNo: o.outTradeNo, state: o.state });
      }
      if (method === 'POST' && url.pathname === '/sandbox/fault') {
        const mode = b.mode;
        if (mode === 'none') this.fault = { mode: 'none' };
        else if (mode === '5xx' || mode === 'timeout') {
          this.fault = { mode, remaining: typeof b.count === 'number' ? b.count : Number.POSITIVE_INFINITY };
        } else return plain(400, { ok: false, error: 'mode must be none, 5xx or timeout' });
        this.emit({ event: 'fault', mode });
        return plain(200, { ok: true });
      }
      plain(404, { ok: false, error: 'no such sandbox endpoint' });
    } catch (err) {
      if (err instanceof HttpError) plain(err.status, { ok: false, code: err.code, error: err.message });
      else plain(400, { ok: false, error: (err as Error).message });
    }
  }

  // ---- refunds ----

  private refundJson(r: Refund): Record<string, unknown> {
    const o = this.orders.get(r.outTradeNo)!;
    return {
      refund_id: r.refundId,
      out_refund_no: r.outRefundNo,
      transaction_id: o.transactionId,
      out_trade_no: r.outTradeNo,
      channel: 'ORIGINAL',
      user_received_account: '支付用户零钱',
      ...(r.successAt ? { success_time: beijingTimestamp(r.successAt) } : {}),
      create_time: beijingTimestamp(r.createdAt),
      status: r.status,
      funds_account: 'UNSETTLED',
      amount: {
        total: o.total,
        refund: r.refund,
        payer_total: o.payerTotal,
        payer_refund: this.payerTotal(r.refund),
        settlement_refund: r.refund,
        settlement_total: o.total,
        discount_refund: 0,
        currency: o.currency,
      },
    };
  }

  private createRefund(b: Record<string, unknown>): Record<string, unknown> {
    if (this.global && (b.mchid !== this.opts.mchid || b.appid !== this.opts.appid)) {
      throw new HttpError(400, 'APPID_MCHID_NOT_MATCH', 'appid和mch_id不匹配');
    }
    const outRefundNo = b.out_refund_no;
    if (typeof outRefundNo !== 'string' || !/^[A-Za-z0-9_*@|-]{1,64}$/.test(outRefundNo)) {
      throw new HttpError(400, 'PARAM_ERROR', 'out_refund_no 格式错误');
    }
    const o = this.order(String(b.out_trade_no ?? ''));
    const existing = this.refunds.get(outRefundNo);
    // "同一退款单号多次请求只退一笔": the same refund number answers the refund already made.
    if (existing) {
      if (existing.outTradeNo !== o.outTradeNo)
        throw new HttpError(400, 'INVALID_REQUEST', '退款单号已用于其他订单');
      return this.refundJson(existing);
    }
    if (o.state !== 'SUCCESS' && o.state !== 'REFUND')
      throw new HttpError(400, 'INVALID_REQUEST', '订单未支付');
    const amount = b.amount as { refund?: unknown; total?: unknown; currency?: unknown } | undefined;
    if (
      !amount ||
      typeof amount.refund !== 'number' ||
      !Number.isInteger(amount.refund) ||
      amount.refund <= 0
    ) {
      throw new HttpError(400, 'PARAM_ERROR', 'amount.refund 必须为正整数');
    }
    if (amount.total !== o.total) throw new HttpError(400, 'INVALID_REQUEST', '订单金额与原订单不一致');
    if ((amount.currency ?? 'CNY') !== o.currency)
      throw new HttpError(400, 'PARAM_ERROR', '币种与原订单不一致');
    if (o.refunded + amount.refund > o.total) throw new HttpError(403, 'NOT_ENOUGH', '可退金额不足');
    const r: Refund = {
      refundId: `5030${String(++this.seq).padStart(6, '0')}${randomBytes(9).toString('hex').slice(0, 19)}`,
      outRefundNo,
      outTradeNo: o.outTradeNo,
      refund: amount.refund,
      status: 'PROCESSING',
      createdAt: this.now(),
      notifyUrl: typeof b.notify_url === 'string' ? b.notify_url : undefined,
    };
    this.refunds.set(outRefundNo, r);
    o.refunded += amount.refund;
    o.state = 'REFUND';
    this.emit({ event: 'refund-created', outTradeNo: o.outTradeNo, outRefundNo, refund: r.refund });
    // The refund completes asynchronously; its result is notified when a notify_url was given.
    this.later(() => {
      r.status = 'SUCCESS';
      r.successAt = this.now();
      if (r.notifyUrl) {
        const resource = {
          mchid: this.opts.mchid,
          out_trade_no: r.outTradeNo,
          transaction_id: o.transactionId,
          out_refund_no: r.outRefundNo,
          refund_id: r.refundId,
          refund_status: 'SUCCESS',
          success_time: beijingTimestamp(r.successAt),
          user_received_account: '支付用户零钱',
          amount: {
            total: o.total,
            refund: r.refund,
            payer_total: o.payerTotal,
            payer_refund: this.payerTotal(r.refund),
          },
        };
        this.notify(r.notifyUrl, 'REFUND.SUCCESS', '退款成功', 'refund', resource, r.outTradeNo);
      }
    }, 50);
    return this.refundJson(r);
  }

  // ---- notifications ----

  private later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private notify(
    notifyUrl: string,
    eventType: string,
    summary: string,
    originalType: string,
    resource: Record<string, unknown>,
    outTradeNo: string,
  ): void {
    const notificationId = `EV-${this.now()}${randomBytes(4).toString('hex')}`;
    const body = Buffer.from(
      JSON.stringify({
        id: notificationId,
        create_time: beijingTimestamp(this.now()),
        resource_type: 'encrypt-resource',
        event_type: eventType,
        summary,
        resource: encryptNotificationResource(JSON.stringify(resource), this.apiV3Key, originalType),
      }),
      'utf8',
    );
    const attempt = async (n: number): Promise<void> => {
      let status: number | 'error' = 'error';
      try {
        // Each attempt is signed anew (fresh timestamp and nonce) over the same body.
        const res = await fetch(notifyUrl, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            ...platformSignatureHeaders(body, this.platformKey, this.platformSerial, this.now()),
          },
          body,
          signal: AbortSignal.timeout(this.opts.deliveryTimeoutMs ?? 5000),
        });
        await res.arrayBuffer().catch(() => undefined);
        status = res.status;
      } catch {}
      this.deliveries.push({ notificationId, eventType, outTradeNo, attempt: n, status, at: this.now() });
      this.emit({ event: 'notification', notificationId, eventType, outTradeNo, attempt: n, status });
      if (typeof status === 'number' && status >= 200 && status < 300) return;
      const delay = RETRY_SCHEDULE_MS[n];
      if (delay === undefined) {
        this.emit({ event: 'notification-given-up', notificationId, outTradeNo });
        return;
      }
      this.later(() => void attempt(n + 1), Math.max(1, Math.round(delay * (this.opts.retryScale ?? 1))));
    };
    void attempt(0);
  }

  // ---- bills ----

  private billEntries(day: string): BillEntry[] {
    const entries: BillEntry[] = [];
    const payerCurrency = this.global ? (this.opts.payerCurrency ?? 'CNY') : 'CNY';
    for (const o of this.orders.values()) {
      if (!o.successAt || beijingDay(o.successAt) !== day) continue;
      entries.push({
        kind: 'payment',
        at: o.successAt,
        appid: this.opts.appid,
        mchid: this.opts.mchid,
        transactionId: o.transactionId!,
        outTradeNo: o.outTradeNo,
        openid: o.openid!,
        description: o.description,
        total: o.total,
        currency: o.currency,
        payerTotal: o.payerTotal!,
        payerCurrency,
        rate: this.global ? (this.opts.exchangeRate ?? 100_000_000) : undefined,
      });
    }
    for (const r of this.refunds.values()) {
      if (beijingDay(r.createdAt) !== day) continue;
      const o = this.orders.get(r.outTradeNo)!;
      entries.push({
        kind: 'refund',
        at: r.createdAt,
        appid: this.opts.appid,
        mchid: this.opts.mchid,
        transactionId: o.transactionId!,
        outTradeNo: o.outTradeNo,
        openid: o.openid!,
        description: o.description,
        total: o.total,
        currency: o.currency,
        payerTotal: o.payerTotal!,
        payerCurrency,
        rate: this.global ? (this.opts.exchangeRate ?? 100_000_000) : undefined,
        refundId: r.refundId,
        outRefundNo: r.outRefundNo,
        refund: r.refund,
        refundStatus: r.status,
      });
    }
    return entries.sort((a, b) => a.at - b.at);
  }

  private tradeBill(url: URL, res: http.ServerResponse): void {
    const day = url.searchParams.get('bill_date') ?? '';
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new HttpError(400, 'PARAM_ERROR', 'bill_date 格式错误');
    const entries = this.billEntries(day);
    if (entries.length === 0) throw new HttpError(400, 'NO_STATEMENT_EXIST', '账单文件不存在');
    const text = domesticAllBill(entries);
    const token = randomBytes(24).toString('base64url');
    // "账单文件的下载地址的有效时间为30s".
    this.billFiles.set(token, { text, expires: this.now() + 30_000 });
    this.sendJson(res, 200, {
      hash_type: 'SHA1',
      hash_value: createHash('sha1').update(text, 'utf8').digest('hex'),
      download_url: `${this.baseUrl}/v3/billdownload/file?token=${token}`,
    });
  }

  private billDownload(url: URL, res: http.ServerResponse): void {
    const file = this.billFiles.get(url.searchParams.get('token') ?? '');
    if (!file || file.expires < this.now()) throw new HttpError(400, 'INVALID_REQUEST', '下载链接已失效');
    // The download answer carries no Wechatpay-Signature ("该接口响应的信息请求头中不包含微信接口响应的签名值").
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end(file.text);
  }

  private statement(url: URL, res: http.ServerResponse): void {
    if (url.searchParams.get('mchid') !== this.opts.mchid)
      throw new HttpError(400, 'PARAM_ERROR', 'mchid 错误');
    const date = url.searchParams.get('date') ?? '';
    if (!/^\d{8}$/.test(date)) throw new HttpError(400, 'PARAM_ERROR', 'date 格式错误');
    const entries = this.billEntries(`${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6)}`);
    if (entries.length === 0) throw new HttpError(404, 'NO_STATEMENT_EXIST', '账单不存在');
    const file = Buffer.from(globalStatement(entries), 'utf8');
    const sha1 = createHash('sha1').update(file).digest('hex');
    // Global statements sign timestamp\nnonce\nWechatpay-Statement-Sha1\n instead of the file.
    res
      .writeHead(200, {
        'Content-Type': 'text/plain; charset=utf-8',
        'Wechatpay-Statement-Sha1': sha1,
        ...platformSignatureHeaders(Buffer.from(sha1), this.platformKey, this.platformSerial, this.now()),
      })
      .end(file);
  }
}
