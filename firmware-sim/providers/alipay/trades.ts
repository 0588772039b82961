/**
 * The sandbox's trade book: what Alipay knows about each out_trade_no.
 * A precreated trade exists only as a QR code until a payer scans it
 * (then WAIT_BUYER_PAY); query and close answer ACQ.TRADE_NOT_EXIST before
 * that (alipay.trade.query, 业务错误码).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { beijingDay } from './wire.ts';

export type TradeStatus = 'UNSCANNED' | 'WAIT_BUYER_PAY' | 'TRADE_SUCCESS' | 'TRADE_CLOSED';

export interface Refund {
  outRequestNo: string;
  fen: number;
  at: number;
}

export interface Trade {
  outTradeNo: string;
  tradeNo: string;
  code: string;
  qrCode: string;
  totalFen: number;
  subject: string;
  notifyUrl?: string;
  timeExpire?: number;
  createdAt: number;
  scannedAt?: number;
  paidAt?: number;
  buyerId?: string;
  buyerLogonId?: string;
  status: TradeStatus;
  refunds: Refund[];
}

export class TradeBook {
  private readonly byOutTradeNo = new Map<string, Trade>();
  private readonly byCode = new Map<string, Trade>();
  private seq = 0;

  get(outTradeNo: string): Trade | undefined {
    return this.byOutTradeNo.get(outTradeNo);
  }

  /** The trade a QR content (https://qr.alipay.com/<code>) or bare code names. */
  byQr(qr: string): Trade | undefined {
    const code = qr.startsWith('https://qr.alipay.com/') ? qr.slice('https://qr.alipay.com/'.length) : qr;
    return this.byCode.get(code);
  }

  create(t: Omit<Trade, 'tradeNo' | 'code' | 'qrCode' | 'status' | 'refunds'>): Trade {
    const day = beijingDay(t.createdAt).replaceAll('-', '');
    this.seq++;
    // Alipay trade numbers: date + "2200" + digits, 28 in all (e.g. 2019081522001468450512505578).
    const tradeNo = `${day}2200${String(randomInt(1e9)).padStart(10, '0')}${String(this.seq).padStart(6, '0')}`;
    const code = `bax0${randomBytes(12).toString('hex')}`;
    const trade: Trade = {
      ...t,
      tradeNo,
      code,
      qrCode: `https://qr.alipay.com/${code}`,
      status: 'UNSCANNED',
      refunds: [],
    };
    this.byOutTradeNo.set(t.outTradeNo, trade);
    this.byCode.set(code, trade);
    return trade;
  }

  all(): Trade[] {
    return [...this.byOutTradeNo.values()];
  }
}

export function refundedFen(t: Trade): number {
  return t.refunds.reduce((a, r) => a + r.fen, 0);
}
