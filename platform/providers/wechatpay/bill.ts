/**
 * Trade bill parsing.
 *
 * Domestic ("交易账单详细说明" §1-§2, bill_type=ALL): four parts, fields
 * separated by "," and, in the data and summary rows, each field prefixed by
 * a back-tick "`" (so Excel keeps long numbers):
 *   1. the detail header (27 columns, below),
 *   2. one row per payment (交易状态 SUCCESS) or refund (交易状态 REFUND),
 *   3. the summary header 总交易单数,应结订单总金额,退款总金额,充值券退款总金额,
 *      手续费总金额,订单总金额,申请退款总金额,
 *   4. one summary row.
 * Amounts are decimal yuan; 交易时间 is the payment time, or the time the
 * refund was accepted, in Beijing time.
 *
 * Global ("Downloading Reconciliation" /v3/global/statements §3): the 38
 * column header below, then back-tick-prefixed data rows; amounts are in the
 * currency of their column (标价币种 for the order and refund amounts).
 *
 * Anything else (an unknown header, an unknown row, a row of another width,
 * a summary that does not add up) is an error: a bill that cannot be read
 * exactly must not reconcile silently.
 */
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import type { BillRow } from '../port.ts';
import { parseMajorUnits } from './amounts.ts';

export const DOMESTIC_ALL_HEADER = [
  '交易时间',
  '公众账号ID',
  '商户号',
  '特约商户号',
  '设备号',
  '微信订单号',
  '商户订单号',
  '用户标识',
  '交易类型',
  '交易状态',
  '付款银行',
  '货币种类',
  '应结订单金额',
  '代金券金额',
  '微信退款单号',
  '商户退款单号',
  '退款金额',
  '充值券退款金额',
  '退款类型',
  '退款状态',
  '商品名称',
  '商户数据包',
  '手续费',
  '费率',
  '订单金额',
  '申请退款金额',
  '费率备注',
] as const;

export const DOMESTIC_SUMMARY_HEADER = [
  '总交易单数',
  '应结订单总金额',
  '退款总金额',
  '充值券退款总金额',
  '手续费总金额',
  '订单总金额',
  '申请退款总金额',
] as const;

export const GLOBAL_HEADER = [
  '交易时间',
  '公众账号ID',
  '商户号',
  '子商户号',
  '设备号',
  '微信订单号',
  '商户订单号',
  '用户标识',
  '交易类型',
  '交易状态',
  '付款银行',
  '充值券币种',
  '充值券金额',
  '优惠券币种',
  '优惠券金额',
  '微信退款单号',
  '商户退款单号',
  '退款类型',
  '退款状态',
  '商品名称',
  '商户数据包',
  '手续费',
  '费率',
  '标价币种',
  '订单金额(标价币种)',
  '用户支付币种',
  '用户支付金额',
  '结算币种',
  '应结订单金额',
  '支付汇率',
  '退款汇率',
  '申请退款金额',
  '用户退款币种',
  '用户退款金额',
  '退款结算币种',
  '退款应结订单金额',
  '充值券退款金额',
  '优惠券退款金额',
] as const;

function billError(message: string, line?: number): VendgateError {
  return new VendgateError(ErrorCode.ProviderBillInvalid, line ? `bill line ${line}: ${message}` : message, {
    line,
  });
}

/** The bill's lines without the UTF-8 BOM, the line ends and trailing blank lines. */
export function billLines(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  return lines;
}

/**
 * Splits one back-tick row into its fields. The separator is ",`" (every
 * field starts with a back-tick), so a comma inside a product name does not
 * shift the columns.
 */
export function splitTickedRow(line: string, lineNo: number): string[] {
  if (!line.startsWith('`')) throw billError('a data row must start with "`"', lineNo);
  return line.slice(1).split(',`');
}

/** Beijing time "yyyy-MM-dd HH:mm:ss" -> Unix ms. */
export function beijingTime(text: string, lineNo: number): number {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(text);
  const ms = m ? Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}+08:00`) : Number.NaN;
  if (!Number.isFinite(ms))
    throw billError(`交易时间 "${text.slice(0, 30)}" is not yyyy-MM-dd HH:mm:ss`, lineNo);
  return ms;
}

function amount(text: string, currency: string, column: string, lineNo: number): number {
  try {
    return parseMajorUnits(text, currency, `${column}`);
  } catch (err) {
    throw billError((err as Error).message, lineNo);
  }
}

function sameHeader(line: string, header: readonly string[]): boolean {
  return line === header.join(',');
}

/** Parses a domestic ALL trade bill (CNY) and checks its summary against its rows. */
export function parseDomesticTradeBill(text: string, expectMchid: string): BillRow[] {
  const lines = billLines(text);
  if (lines.length === 0 || !sameHeader(lines[0]!, DOMESTIC_ALL_HEADER)) {
    throw billError('the first line is not the ALL trade bill header', 1);
  }
  const col = (name: (typeof DOMESTIC_ALL_HEADER)[number]) => DOMESTIC_ALL_HEADER.indexOf(name);
  const rows: BillRow[] = [];
  const sums = { settlement: 0, refund: 0, order: 0, refundRequested: 0 };
  let i = 1;
  for (; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!;
    if (sameHeader(line, DOMESTIC_SUMMARY_HEADER)) break;
    const f = splitTickedRow(line, lineNo);
    if (f.length !== DOMESTIC_ALL_HEADER.length) {
      throw billError(`a data row has ${f.length} fields, not ${DOMESTIC_ALL_HEADER.length}`, lineNo);
    }
    const get = (name: (typeof DOMESTIC_ALL_HEADER)[number]) => f[col(name)]!;
    if (get('商户号') !== expectMchid) throw billError('商户号 is not this merchant', lineNo);
    const currency = get('货币种类');
    if (currency !== 'CNY') throw billError(`货币种类 ${currency.slice(0, 8)} is not CNY`, lineNo);
    const at = beijingTime(get('交易时间'), lineNo);
    const settlement = amount(get('应结订单金额'), 'CNY', '应结订单金额', lineNo);
    const refunded = amount(get('退款金额'), 'CNY', '退款金额', lineNo);
    const order = amount(get('订单金额'), 'CNY', '订单金额', lineNo);
    const refundRequested = amount(get('申请退款金额'), 'CNY', '申请退款金额', lineNo);
    sums.settlement += settlement;
    sums.refund += refunded;
    sums.order += order;
    sums.refundRequested += refundRequested;
    const base = { outTradeNo: get('商户订单号'), transactionId: get('微信订单号'), at };
    if (!base.outTradeNo || !base.transactionId) throw billError('商户订单号 or 微信订单号 is empty', lineNo);
    const state = get('交易状态');
    if (state === 'SUCCESS') {
      rows.push({ ...base, kind: 'payment', amount: { amount: order, currency: 'CNY' } });
    } else if (state === 'REFUND') {
      const outRefundNo = get('商户退款单号');
      if (!outRefundNo) throw billError('a refund row has no 商户退款单号', lineNo);
      rows.push({
        ...base,
        kind: 'refund',
        amount: { amount: refundRequested, currency: 'CNY' },
        outRefundNo,
      });
    } else {
      throw billError(`unknown 交易状态 "${state.slice(0, 20)}"`, lineNo);
    }
  }
  if (i >= lines.length) throw billError('the summary header is missing (truncated bill?)');
  const summaryLineNo = i + 2;
  if (i + 2 !== lines.length) {
    throw billError(
      i + 1 >= lines.length ? 'the summary row is missing' : 'unexpected lines after the summary row',
      summaryLineNo,
    );
  }
  const s = splitTickedRow(lines[i + 1]!, summaryLineNo);
  if (s.length !== DOMESTIC_SUMMARY_HEADER.length) {
    throw billError(
      `the summary row has ${s.length} fields, not ${DOMESTIC_SUMMARY_HEADER.length}`,
      summaryLineNo,
    );
  }
  const checks: Array<[string, number, number]> = [
    ['总交易单数', Number(/^\d+$/.test(s[0]!) ? s[0] : Number.NaN), rows.length],
    ['应结订单总金额', amount(s[1]!, 'CNY', '应结订单总金额', summaryLineNo), sums.settlement],
    ['退款总金额', amount(s[2]!, 'CNY', '退款总金额', summaryLineNo), sums.refund],
    ['订单总金额', amount(s[5]!, 'CNY', '订单总金额', summaryLineNo), sums.order],
    ['申请退款总金额', amount(s[6]!, 'CNY', '申请退款总金额', summaryLineNo), sums.refundRequested],
  ];
  for (const [name, stated, counted] of checks) {
    if (stated !== counted) throw billError(`summary ${name} is ${stated} but the rows add up to ${counted}`);
  }
  return rows;
}

/** Parses a WeChat Pay Global statement (header and data rows) in the merchant's pricing currency. */
export function parseGlobalStatement(text: string, expectMchid: string, currency: string): BillRow[] {
  const lines = billLines(text);
  if (lines.length === 0 || !sameHeader(lines[0]!, GLOBAL_HEADER)) {
    throw billError('the first line is not the Global statement header', 1);
  }
  const col = (name: (typeof GLOBAL_HEADER)[number]) => GLOBAL_HEADER.indexOf(name);
  const rows: BillRow[] = [];
  for (let i = 1; i < lines.length; i++) {
    const lineNo = i + 1;
    const f = splitTickedRow(lines[i]!, lineNo);
    if (f.length !== GLOBAL_HEADER.length) {
      throw billError(`a data row has ${f.length} fields, not ${GLOBAL_HEADER.length}`, lineNo);
    }
    const get = (name: (typeof GLOBAL_HEADER)[number]) => f[col(name)]!;
    if (get('商户号') !== expectMchid) throw billError('商户号 is not this merchant', lineNo);
    const priced = get('标价币种');
    if (priced !== currency) throw billError(`标价币种 ${priced.slice(0, 8)} is not ${currency}`, lineNo);
    const base = {
      outTradeNo: get('商户订单号'),
      transactionId: get('微信订单号'),
      at: beijingTime(get('交易时间'), lineNo),
    };
    if (!base.outTradeNo || !base.transactionId) throw billError('商户订单号 or 微信订单号 is empty', lineNo);
    const state = get('交易状态');
    if (state === 'SUCCESS') {
      const total = amount(get('订单金额(标价币种)'), currency, '订单金额(标价币种)', lineNo);
      rows.push({ ...base, kind: 'payment', amount: { amount: total, currency } });
    } else if (state === 'REFUND') {
      const outRefundNo = get('商户退款单号');
      if (!outRefundNo) throw billError('a refund row has no 商户退款单号', lineNo);
      const refund = amount(get('申请退款金额'), currency, '申请退款金额', lineNo);
      rows.push({ ...base, kind: 'refund', amount: { amount: refund, currency }, outRefundNo });
    } else {
      throw billError(`unknown 交易状态 "${state.slice(0, 20)}"`, lineNo);
    }
  }
  return rows;
}
