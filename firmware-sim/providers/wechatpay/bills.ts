/**
 * The sandbox's trade bills, written the way WeChat Pay documents them:
 *
 * - domestic, bill_type ALL (交易账单详细说明 §1-§2): the 27-column detail
 *   header, one back-tick-prefixed row per payment (交易状态 SUCCESS) and per
 *   refund accepted that day (交易状态 REFUND), the summary header and the
 *   summary row; amounts in yuan, times in Beijing time, fields joined by ",";
 * - Global (/v3/global/statements §3): the 38-column header and the rows,
 *   amounts in the units of their currency column.
 */
import { beijingBillTime } from './wire.ts';

export interface BillPayment {
  kind: 'payment';
  at: number;
  appid: string;
  mchid: string;
  transactionId: string;
  outTradeNo: string;
  openid: string;
  description: string;
  total: number;
  currency: string;
  payerTotal: number;
  payerCurrency: string;
  rate?: number;
}

export interface BillRefund extends Omit<BillPayment, 'kind'> {
  kind: 'refund';
  refundId: string;
  outRefundNo: string;
  refund: number;
  refundStatus: string;
}

export type BillEntry = BillPayment | BillRefund;

const ALL_HEADER =
  '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注';
const SUMMARY_HEADER =
  '总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额';
const GLOBAL_STATEMENT_HEADER =
  '交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,充值券币种,充值券金额,优惠券币种,优惠券金额,微信退款单号,商户退款单号,退款类型,退款状态,商品名称,商户数据包,手续费,费率,标价币种,订单金额(标价币种),用户支付币种,用户支付金额,结算币种,应结订单金额,支付汇率,退款汇率,申请退款金额,用户退款币种,用户退款金额,退款结算币种,退款应结订单金额,充值券退款金额,优惠券退款金额';

const ZERO_DECIMAL = new Set(['JPY', 'KRW', 'ISK', 'CLP', 'VND']);

/** Minor units as the bill's decimal major units. */
export function yuan(minor: number, currency = 'CNY'): string {
  if (ZERO_DECIMAL.has(currency)) return String(minor);
  const neg = minor < 0;
  const s = String(Math.abs(minor)).padStart(3, '0');
  return `${neg ? '-' : ''}${s.slice(0, -2)}.${s.slice(-2)}`;
}

/** The 0.60% service fee in yuan with five decimals (手续费 "0.00000"); negative for a refund. */
function fee(minor: number): string {
  return fiveDecimals(minor * 6); // fen * 0.006 yuan/fen * 10^5 = fen * 6 units of 1e-5 yuan
}

function fiveDecimals(units: number): string {
  const s = String(Math.abs(units)).padStart(6, '0');
  return `${units < 0 ? '-' : ''}${s.slice(0, -5)}.${s.slice(-5)}`;
}

const tick = (fields: string[]) => fields.map((f) => `\`${f}`).join(',');

export function domesticAllBill(entries: BillEntry[]): string {
  const lines = [ALL_HEADER];
  let settlement = 0;
  let refunds = 0;
  let fees = 0;
  for (const e of entries) {
    const isRefund = e.kind === 'refund';
    const amount = isRefund ? e.refund : e.total;
    if (isRefund) refunds += e.refund;
    else settlement += e.total;
    fees += isRefund ? -amount * 6 : amount * 6;
    lines.push(
      tick([
        beijingBillTime(e.at),
        e.appid,
        e.mchid,
        '0',
        '',
        e.transactionId,
        e.outTradeNo,
        e.openid,
        'NATIVE',
        isRefund ? 'REFUND' : 'SUCCESS',
        'OTHERS',
        'CNY',
        isRefund ? '0.00' : yuan(e.total),
        '0.00',
        isRefund ? e.refundId : '0',
        isRefund ? e.outRefundNo : '0',
        isRefund ? yuan(e.refund) : '0.00',
        '0.00',
        isRefund ? 'ORIGINAL' : '',
        isRefund ? e.refundStatus : '',
        e.description,
        '',
        fee(isRefund ? -amount : amount),
        '0.60%',
        isRefund ? '0.00' : yuan(e.total),
        isRefund ? yuan(e.refund) : '0.00',
        '',
      ]),
    );
  }
  const feeTotal = fiveDecimals(fees);
  lines.push(SUMMARY_HEADER);
  lines.push(
    tick([
      String(entries.length),
      yuan(settlement),
      yuan(refunds),
      '0.00',
      feeTotal,
      yuan(settlement),
      yuan(refunds),
    ]),
  );
  return `${lines.join('\r\n')}\r\n`;
}

export function globalStatement(entries: BillEntry[]): string {
  const lines = [GLOBAL_STATEMENT_HEADER];
  for (const e of entries) {
    const isRefund = e.kind === 'refund';
    const c = e.currency;
    lines.push(
      tick([
        beijingBillTime(e.at),
        e.appid,
        e.mchid,
        '',
        '',
        e.transactionId,
        e.outTradeNo,
        e.openid,
        'NATIVE',
        isRefund ? 'REFUND' : 'SUCCESS',
        'OTHERS',
        '',
        '0',
        '',
        '0',
        isRefund ? e.refundId : '',
        isRefund ? e.outRefundNo : '',
        isRefund ? 'ORIGINAL' : '',
        isRefund ? e.refundStatus : '',
        e.description,
        '',
        '0',
        '0.60%',
        c,
        isRefund ? yuan(0, c) : yuan(e.total, c),
        e.payerCurrency,
        isRefund ? yuan(0, e.payerCurrency) : yuan(e.payerTotal, e.payerCurrency),
        c,
        isRefund ? yuan(0, c) : yuan(e.total, c),
        e.rate !== undefined ? String(e.rate) : '',
        isRefund && e.rate !== undefined ? String(e.rate) : '',
        isRefund ? yuan(e.refund, c) : yuan(0, c),
        isRefund ? e.payerCurrency : '',
        isRefund ? yuan(Math.round((e.refund * e.payerTotal) / e.total), e.payerCurrency) : '',
        isRefund ? c : '',
        isRefund ? yuan(e.refund, c) : '',
        '0',
        '0',
      ]),
    );
  }
  return `${lines.join('\n')}\n`;
}
