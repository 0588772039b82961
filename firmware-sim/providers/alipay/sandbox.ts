/**
 * The Alipay sandbox: an HTTP server speaking the open platform gateway
 * (POST /gateway.do, RSA2-signed requests verified with the app's public
 * key, answers signed with the sandbox's own Alipay key), the trade bill
 * download, asynchronous notifications with Alipay's retry schedule, a
 * simulated phone (GET /phone page, POST /phone/scan|pay|abandon|pay-twice)
 * and a fault switch (POST /sandbox/fault).
 */
import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type BillLine, billZip } from './bill-file.ts';
import { type Delivery, Notifier } from './notifier.ts';
import { PHONE_PAGE } from './phone-page.ts';
import { refundedFen, type Trade, TradeBook } from './trades.ts';
import {
  beijing,
  beijingDay,
  fromBeijing,
  parseParams,
  parseYuan,
  signContent,
  signedAnswer,
  verify,
  yuan,
} from './wire.ts';

export interface AlipaySandboxOptions {
  appId: string;
  sellerId: string;
  appPublicKey: KeyObject;
  /** Multiplies the notification retry delays (1 = Alipay's real 4m..15h). */
  retryScale?: number;
  /** Serve today's bill too (Alipay serves a day's bill from the next morning: T+1). */
  billsSameDay?: boolean;
  /** How long a bill download URL stays valid; Alipay: 30 s. */
  billUrlTtlMs?: number;
  /** Tolerated request timestamp skew. */
  maxTimestampSkewMs?: number;
  onEvent?: (e: Record<string, unknown>) => void;
}

export type FaultMode = 'none' | 'http-500' | 'http-503' | 'timeout' | 'system-error' | 'bad-signature';
export type BillCorruption = 'none' | 'crc' | 'unknown-row' | 'footer-total';

const MAX_BODY = 64 * 1024;

export class AlipaySandbox {
  readonly alipayPublicKey: KeyObject;
  private readonly alipayPrivateKey: KeyObject;
  private readonly trades = new TradeBook();
  private readonly notifier: Notifier;
  private readonly deliveries: Delivery[] = [];
  private readonly billTokens = new Map<string, { zip: Buffer; expires: number }>();
  private readonly held = new Set<ServerResponse>();
  private server?: Server;
  private fault: { mode: FaultMode; remaining: number } = { mode: 'none', remaining: 0 };
  private billCorruption: BillCorruption = 'none';
  private baseUrl = '';

  constructor(private readonly opts: AlipaySandboxOptions) {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.alipayPublicKey = publicKey;
    this.alipayPrivateKey = privateKey;
    this.notifier = new Notifier({
      alipayKey: privateKey,
      retryScale: opts.retryScale ?? 1,
      timeoutMs: 5000,
      onDelivery: (d) => {
        this.deliveries.push(d);
        this.emit({ event: 'notify', ...d });
      },
    });
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        this.emit({ event: 'error', message: (err as Error).message });
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    await new Promise<void>((r) => this.server!.listen(port, host, r));
    const a = this.server.address() as AddressInfo;
    this.baseUrl = `http://${host}:${a.port}`;
    return this.baseUrl;
  }

  async close(): Promise<void> {
    this.notifier.stop();
    for (const r of this.held) r.destroy();
    this.held.clear();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server?.closeAllConnections();
  }

  private emit(e: Record<string, unknown>) {
    this.opts.onEvent?.(e);
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', this.baseUrl);
    const body = await readBody(req);
    if (body === undefined) return sendText(res, 413, 'too large');
    const path = url.pathname;
    if (path === '/gateway.do' && req.method === 'POST') return this.gateway(url, req, body, res);
    if (path.startsWith('/bill/download/') && req.method === 'GET') return this.download(path, res);
    if (path === '/phone' && req.method === 'GET')
      return sendText(res, 200, PHONE_PAGE, 'text/html; charset=utf-8');
    if (path === '/phone/trade' && req.method === 'GET')
      return this.phoneTrade(url.searchParams.get('qr') ?? '', res);
    if (path.startsWith('/phone/') && req.method === 'POST')
      return this.phoneAction(path.slice(7), body, res);
    if (path === '/sandbox/fault' && req.method === 'POST') {
      const o = JSON.parse(body || '{}') as { mode?: FaultMode; count?: number; bill?: BillCorruption };
      this.fault = { mode: o.mode ?? 'none', remaining: o.count ?? Number.POSITIVE_INFINITY };
      if (o.bill) this.billCorruption = o.bill;
      this.emit({ event: 'fault', mode: this.fault.mode, count: o.count ?? null, bill: this.billCorruption });
      return sendJson(res, 200, { ok: true });
    }
    if (path === '/sandbox/notifications' && req.method === 'GET') return sendJson(res, 200, this.deliveries);
    sendText(res, 404, 'not found');
  }

  // ---- the gateway -------------------------------------------------------

  private gateway(url: URL, req: IncomingMessage, body: string, res: ServerResponse) {
    if (this.fault.mode !== 'none' && this.fault.mode !== 'system-error' && this.fault.remaining > 0) {
      this.fault.remaining--;
      const mode = this.fault.mode;
      if (this.fault.remaining <= 0) this.fault = { mode: 'none', remaining: 0 };
      this.emit({ event: 'fault-applied', mode });
      if (mode === 'timeout') {
        this.held.add(res); // never answered; the client's timeout must fire
        res.on('close', () => this.held.delete(res));
        return;
      }
      if (mode === 'http-500' || mode === 'http-503') {
        return sendText(
          res,
          mode === 'http-500' ? 500 : 503,
          '<html><body>Service Unavailable</body></html>',
          'text/html',
        );
      }
      if (mode === 'bad-signature') {
        // A body whose signature does not match (what a tampering proxy would deliver).
        return sendText(
          res,
          200,
          '{"alipay_trade_query_response":{"code":"10000","msg":"Success"},"sign":"AAAA"}',
          'application/json;charset=utf-8',
        );
      }
    }
    const p: Record<string, string> = {};
    const dup = parseParams(url.search.slice(1), p) ?? (isForm(req) ? parseParams(body, p) : undefined);
    const method = p.method ?? '';
    const key = /^[a-z.]+$/.test(method) ? `${method.replaceAll('.', '_')}_response` : 'error_response';
    const answer = (fields: Record<string, unknown>) =>
      sendText(res, 200, signedAnswer(key, fields, this.alipayPrivateKey), 'text/html;charset=utf-8');
    const error = (code: string, msg: string, subCode: string, subMsg: string) =>
      answer({ code, msg, sub_code: subCode, sub_msg: subMsg });
    if (dup) return error('40002', 'Invalid Arguments', 'isv.invalid-parameter', dup);
    for (const k of ['app_id', 'method', 'charset', 'sign_type', 'sign', 'timestamp', 'version']) {
      if (!p[k])
        return error(
          '40001',
          'Missing Required Arguments',
          `isv.missing-${k.replace('_', '-')}`,
          `缺少${k}参数`,
        );
    }
    if (p.app_id !== this.opts.appId)
      return error('40002', 'Invalid Arguments', 'isv.invalid-app-id', '无效的AppID参数');
    if (p.sign_type !== 'RSA2')
      return error('40002', 'Invalid Arguments', 'isv.invalid-signature-type', '无效的签名类型');
    if (p.charset!.toLowerCase() !== 'utf-8')
      return error('40002', 'Invalid Arguments', 'isv.invalid-charset', '字符集错误');
    const ts = fromBeijing(p.timestamp!);
    if (!Number.isFinite(ts) || Math.abs(Date.now() - ts) > (this.opts.maxTimestampSkewMs ?? 15 * 60_000)) {
      return error('40002', 'Invalid Arguments', 'isv.invalid-timestamp', '非法的时间戳参数');
    }
    if (!verify(signContent(p, ['sign']), p.sign!, this.opts.appPublicKey)) {
      return error('40002', 'Invalid Arguments', 'isv.invalid-signature', '验签出错');
    }
    if (this.fault.mode === 'system-error' && this.fault.remaining > 0) {
      this.fault.remaining--;
      if (this.fault.remaining <= 0) this.fault = { mode: 'none', remaining: 0 };
      return error('20000', 'Service Currently Unavailable', 'isp.unknow-error', '服务暂不可用');
    }
    let biz: Record<string, unknown>;
    try {
      biz = JSON.parse(p.biz_content ?? '{}') as Record<string, unknown>;
    } catch {
      return error('40002', 'Invalid Arguments', 'isv.invalid-biz-content', 'biz_content格式错误');
    }
    const s = (k: string) => (typeof biz[k] === 'string' ? (biz[k] as string) : '');
    this.emit({ event: 'request', method, outTradeNo: s('out_trade_no') || undefined });
    const business = (subCode: string, subMsg: string) => error('40004', 'Business Failed', subCode, subMsg);
    switch (method) {
      case 'alipay.trade.precreate':
        return this.precreate(s, p.notify_url, answer, business);
      case 'alipay.trade.query':
        return this.query(s('out_trade_no'), answer, business);
      case 'alipay.trade.close':
        return this.closeTrade(s('out_trade_no'), answer, business);
      case 'alipay.trade.refund':
        return this.refund(s, answer, business);
      case 'alipay.trade.fastpay.refund.query':
        return this.refundQuery(s, answer, business);
      case 'alipay.data.dataservice.bill.downloadurl.query':
        return this.billUrl(s('bill_type'), s('bill_date'), answer, business);
      default:
        return error('40002', 'Invalid Arguments', 'isv.invalid-method', '不存在的方法名');
    }
  }

  private precreate(
    s: (k: string) => string,
    notifyUrl: string | undefined,
    answer: (f: Record<string, unknown>) => void,
    business: (c: string, m: string) => void,
  ) {
    const outTradeNo = s('out_trade_no');
    const fen = parseYuan(s('total_amount'));
    if (!outTradeNo || outTradeNo.length > 64)
      return business('ACQ.INVALID_PARAMETER', '参数无效: out_trade_no');
    if (fen === undefined || fen < 1 || fen > 10_000_000_000)
      return business('ACQ.INVALID_PARAMETER', '参数无效: total_amount');
    if (!s('subject')) return business('ACQ.INVALID_PARAMETER', '参数无效: subject');
    const expire = s('time_expire') ? fromBeijing(s('time_expire')) : undefined;
    if (expire !== undefined && !Number.isFinite(expire))
      return business('ACQ.INVALID_PARAMETER', '参数无效: time_expire');
    const existing = this.trades.get(outTradeNo);
    if (existing) {
      if (existing.status === 'TRADE_SUCCESS') return business('ACQ.TRADE_HAS_SUCCESS', '交易已被支付');
      if (existing.status === 'TRADE_CLOSED') return business('ACQ.TRADE_HAS_CLOSE', '交易已经关闭');
      if (existing.totalFen !== fen) return business('ACQ.CONTEXT_INCONSISTENT', '交易信息被篡改');
      return answer({ code: '10000', msg: 'Success', out_trade_no: outTradeNo, qr_code: existing.qrCode });
    }
    const t = this.trades.create({
      outTradeNo,
      totalFen: fen,
      subject: s('subject'),
      notifyUrl,
      timeExpire: expire,
      createdAt: Date.now(),
    });
    this.emit({ event: 'precreated', outTradeNo, qrCode: t.qrCode, totalAmount: yuan(fen) });
    answer({ code: '10000', msg: 'Success', out_trade_no: outTradeNo, qr_code: t.qrCode });
  }

  private query(
    outTradeNo: string,
    answer: (f: Record<string, unknown>) => void,
    business: (c: string, m: string) => void,
  ) {
    const t = this.trades.get(outTradeNo);
    if (!t || t.status === 'UNSCANNED') return business('ACQ.TRADE_NOT_EXIST', '交易不存在');
    this.expireIfDue(t);
    const fields: Record<string, unknown> = {
      code: '10000',
      msg: 'Success',
      buyer_logon_id: t.buyerLogonId ?? '',
      buyer_pay_amount: t.paidAt ? yuan(t.totalFen) : '0.00',
      buyer_user_id: t.buyerId ?? '',
      invoice_amount: t.paidAt ? yuan(t.totalFen) : '0.00',
      out_trade_no: t.outTradeNo,
      point_amount: '0.00',
      receipt_amount: t.paidAt ? yuan(t.totalFen) : '0.00',
      total_amount: yuan(t.totalFen),
      trade_no: t.tradeNo,
      trade_status: t.status,
    };
    if (t.paidAt) fields.send_pay_date = beijing(t.paidAt);
    answer(fields);
  }

  private closeTrade(
    outTradeNo: string,
    answer: (f: Record<string, unknown>) => void,
    business: (c: string, m: string) => void,
  ) {
    const t = this.trades.get(outTradeNo);
    if (!t || t.status === 'UNSCANNED') return business('ACQ.TRADE_NOT_EXIST', '交易不存在');
    if (t.status !== 'WAIT_BUYER_PAY') return business('ACQ.TRADE_STATUS_ERROR', '交易状态不合法');
    t.status = 'TRADE_CLOSED';
    this.emit({ event: 'closed', outTradeNo });
    answer({ code: '10000', msg: 'Success', out_trade_no: t.outTradeNo, trade_no: t.tradeNo });
  }

  private refund(
    s: (k: string) => string,
    answer: (f: Record<string, unknown>) => void,
    business: (c: string, m: string) => void,
  ) {
    const t = this.trades.get(s('out_trade_no'));
    const fen = parseYuan(s('refund_amount'));
    const outRequestNo = s('out_request_no') || s('out_trade_no');
    if (!t || t.status === 'UNSCANNED') return business('ACQ.TRADE_NOT_EXIST', '交易不存在');
    if (fen === undefined || fen < 1) return business('ACQ.INVALID_PARAMETER', '参数无效: refund_amount');
    const base = {
      code: '10000',
      msg: 'Success',
      buyer_logon_id: t.buyerLogonId ?? '',
      out_trade_no: t.outTradeNo,
      trade_no: t.tradeNo,
    };
    const previous = t.refunds.find((r) => r.outRequestNo === outRequestNo);
    if (previous) {
      // The same out_request_no again: idempotent, no money moves (fund_change=N).
      if (previous.fen !== fen) return business('ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', '退款金额与原请求不一致');
      return answer({ ...base, fund_change: 'N', refund_fee: yuan(refundedFen(t)) });
    }
    if (t.status !== 'TRADE_SUCCESS') return business('ACQ.TRADE_STATUS_ERROR', '交易状态不合法');
    if (refundedFen(t) + fen > t.totalFen) return business('ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', '退款金额超限');
    const at = Date.now();
    t.refunds.push({ outRequestNo, fen, at });
    const full = refundedFen(t) === t.totalFen;
    if (full) t.status = 'TRADE_CLOSED';
    this.emit({ event: 'refunded', outTradeNo: t.outTradeNo, outRequestNo, refundAmount: yuan(fen) });
    answer({ ...base, fund_change: 'Y', refund_fee: yuan(refundedFen(t)), gmt_refund_pay: beijing(at) });
    if (t.notifyUrl) {
      this.notifier.send(t.notifyUrl, {
        ...this.notificationParams(t, full ? 'TRADE_CLOSED' : 'TRADE_SUCCESS'),
        refund_fee: yuan(refundedFen(t)),
        out_biz_no: outRequestNo,
        gmt_refund: `${beijing(at)}.000`,
      });
    }
  }

  /** 统一收单交易退款查询: the refund's data when it exists (refunds here complete at once), else none. */
  private refundQuery(
    s: (k: string) => string,
    answer: (f: Record<string, unknown>) => void,
    business: (c: string, m: string) => void,
  ) {
    const t = this.trades.get(s('out_trade_no'));
    if (!t || t.status === 'UNSCANNED') return business('ACQ.TRADE_NOT_EXIST', '交易不存在');
    const outRequestNo = s('out_request_no') || s('out_trade_no');
    const r = t.refunds.find((x) => x.outRequestNo === outRequestNo);
    if (!r) return answer({ code: '10000', msg: 'Success' });
    answer({
      code: '10000',
      msg: 'Success',
      trade_no: t.tradeNo,
      out_trade_no: t.outTradeNo,
      out_request_no: outRequestNo,
      total_amount: yuan(t.totalFen),
      refund_amount: yuan(r.fen),
      refund_status: 'REFUND_SUCCESS',
      gmt_refund_pay: beijing(r.at),
    });
  }

  private billUrl(
    type: string,
    day: string,
    answer: (f: Record<string, unknown>) => void,
    business: (c: string, m: string) => void,
  ) {
    if (type !== 'trade' && type !== 'signcustomer')
      return business('isv.invalid-bill-type', '账单类型不正确');
    if (type !== 'trade') return business('isp.bill_not_exist', '账单不存在');
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || !Number.isFinite(fromBeijing(`${day} 00:00:00`))) {
      return business('isv.invalid-bill-date', '账单日期格式不正确');
    }
    const today = beijingDay(Date.now());
    if (day > today || (day === today && !this.opts.billsSameDay))
      return business('isp.bill_not_exist', '账单不存在');
    const zip = billZip({
      sellerId: this.opts.sellerId,
      day,
      lines: this.billLines(day),
      now: Date.now(),
      corrupt: this.billCorruption === 'none' ? undefined : this.billCorruption,
    });
    const token = randomBytes(16).toString('hex');
    this.billTokens.set(token, { zip, expires: Date.now() + (this.opts.billUrlTtlMs ?? 30_000) });
    answer({ code: '10000', msg: 'Success', bill_download_url: `${this.baseUrl}/bill/download/${token}` });
  }

  private billLines(day: string): BillLine[] {
    const lines: BillLine[] = [];
    for (const t of this.trades.all()) {
      const common = {
        tradeNo: t.tradeNo,
        outTradeNo: t.outTradeNo,
        subject: t.subject,
        createdAt: t.createdAt,
        orderFen: t.totalFen,
        buyerLogonId: t.buyerLogonId ?? '',
      };
      if (t.paidAt && beijingDay(t.paidAt) === day) {
        lines.push({
          ...common,
          kind: 'payment',
          finishedAt: t.paidAt,
          receivedFen: t.totalFen,
          outRequestNo: '',
        });
      }
      for (const r of t.refunds) {
        if (beijingDay(r.at) !== day) continue;
        lines.push({
          ...common,
          kind: 'refund',
          finishedAt: r.at,
          receivedFen: -r.fen,
          outRequestNo: r.outRequestNo,
        });
      }
    }
    return lines.sort((a, b) => a.finishedAt - b.finishedAt);
  }

  private download(path: string, res: ServerResponse) {
    const token = path.slice('/bill/download/'.length);
    const entry = this.billTokens.get(token);
    if (!entry || entry.expires < Date.now()) {
      this.billTokens.delete(token);
      return sendText(res, 404, 'the download link has expired');
    }
    res.writeHead(200, { 'content-type': 'application/zip', 'content-length': entry.zip.length });
    res.end(entry.zip);
  }

  // ---- the phone ---------------------------------------------------------

  private expireIfDue(t: Trade) {
    if (t.status === 'WAIT_BUYER_PAY' && t.timeExpire !== undefined && Date.now() > t.timeExpire)
      t.status = 'TRADE_CLOSED';
  }

  private phoneTrade(qr: string, res: ServerResponse) {
    const t = this.trades.byQr(qr);
    if (!t) return sendJson(res, 404, { ok: false, error: 'no such payment code' });
    this.expireIfDue(t);
    sendJson(res, 200, { ok: true, subject: t.subject, totalAmount: yuan(t.totalFen), status: t.status });
  }

  private phoneAction(action: string, body: string, res: ServerResponse) {
    let o: { qr?: string; buyerId?: string };
    try {
      o = JSON.parse(body || '{}') as typeof o;
    } catch {
      return sendJson(res, 400, { ok: false, error: 'a JSON body {"qr": "..."} is expected' });
    }
    const t = this.trades.byQr(o.qr ?? '');
    if (!t) return sendJson(res, 404, { ok: false, error: 'no such payment code' });
    this.expireIfDue(t);
    if (t.status === 'UNSCANNED') {
      t.status = 'WAIT_BUYER_PAY';
      t.scannedAt = Date.now();
      t.buyerId = `2088${String(Math.floor(Math.random() * 1e12)).padStart(12, '0')}`;
      t.buyerLogonId = '138****0000';
      this.emit({ event: 'scanned', outTradeNo: t.outTradeNo });
    }
    if (o.buyerId && t.status === 'WAIT_BUYER_PAY') t.buyerId = o.buyerId;
    if (action === 'scan' || action === 'abandon') {
      if (action === 'abandon') this.emit({ event: 'abandoned', outTradeNo: t.outTradeNo });
      return sendJson(res, 200, { ok: true, status: t.status });
    }
    if (action !== 'pay' && action !== 'pay-twice')
      return sendJson(res, 404, { ok: false, error: `no action ${action}` });
    if (t.status !== 'WAIT_BUYER_PAY')
      return sendJson(res, 409, { ok: false, error: `the trade is ${t.status}` });
    t.status = 'TRADE_SUCCESS';
    t.paidAt = Date.now();
    this.emit({ event: 'paid', outTradeNo: t.outTradeNo, tradeNo: t.tradeNo });
    if (t.notifyUrl) {
      const params = this.notificationParams(t, 'TRADE_SUCCESS');
      this.notifier.send(t.notifyUrl, params);
      if (action === 'pay-twice') this.notifier.send(t.notifyUrl, params); // a duplicate: the same notify_id again
    }
    sendJson(res, 200, { ok: true, status: t.status, tradeNo: t.tradeNo });
  }

  /** The trade_status_sync parameters (opendocs.alipay.com/open/270/105902, 异步通知参数). */
  private notificationParams(t: Trade, status: string): Record<string, string> {
    const amount = yuan(t.totalFen);
    const now = Date.now();
    return {
      gmt_create: beijing(t.scannedAt ?? t.createdAt),
      charset: 'utf-8',
      subject: t.subject,
      buyer_id: t.buyerId ?? '',
      invoice_amount: amount,
      notify_id: `${beijing(now).replace(/\D/g, '').slice(0, 8)}00222${randomBytes(12).toString('hex')}`,
      fund_bill_list: JSON.stringify([{ amount, fundChannel: 'ALIPAYACCOUNT' }]),
      notify_type: 'trade_status_sync',
      trade_status: status,
      receipt_amount: amount,
      buyer_pay_amount: amount,
      sign_type: 'RSA2',
      app_id: this.opts.appId,
      seller_id: this.opts.sellerId,
      gmt_payment: t.paidAt ? beijing(t.paidAt) : '',
      version: '1.0',
      out_trade_no: t.outTradeNo,
      total_amount: amount,
      trade_no: t.tradeNo,
      auth_app_id: this.opts.appId,
      buyer_logon_id: t.buyerLogonId ?? '',
      point_amount: '0.00',
    };
  }
}

function isForm(req: IncomingMessage): boolean {
  return (req.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  type = 'text/plain; charset=utf-8',
): void {
  res.writeHead(status, { 'content-type': type });
  res.end(text);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  sendText(res, status, JSON.stringify(value), 'application/json; charset=utf-8');
}
