/**
 * The trade bill (bill_type=trade): a zip of two GBK CSV files,
 * `<pid>_<yyyymmdd>_业务明细.csv` and `..._业务明细(汇总).csv`
 * (opendocs.alipay.com/open/028woc, 账单格式; the download URL comes from
 * alipay.data.dataservice.bill.downloadurl.query and is valid for 30 s).
 * The detail file is:
 *
 *   #支付宝业务明细查询
 *   #账号：[<pid>]
 *   #起始日期：[2016年04月05日 00:00:00]   终止日期：[2016年04月06日 00:00:00]
 *   #-----------------------------------------业务明细列表----------------------------------------
 *   支付宝交易号,商户订单号,业务类型,...      (column header; the order may change, so columns go by name)
 *   <one row per payment (业务类型 交易) or refund (退款); each field may end in a tab>
 *   #-----------------------------------------业务明细列表结束------------------------------------
 *   #交易合计：2笔，商家实收共0.02元，商家优惠共0.00元
 *   #退款合计：1笔，商家实收退款共-0.01元，商家优惠退款共0.00元
 *   #导出时间：[2016年04月06日 09:37:33]
 *
 * Any other line is an unknown row and fails the bill; so do footer totals
 * that disagree with the rows (the bill's own checksum).
 */
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import type { BillRow } from '../port.ts';
import { ALIPAY_CURRENCY, signedYuanToFen, yuanToFen } from './amount.ts';
import { parseBeijing } from './time.ts';
import { readZip } from './zip.ts';

export const BILL_COLUMNS = {
  tradeNo: '支付宝交易号',
  outTradeNo: '商户订单号',
  kind: '业务类型',
  finishedAt: '完成时间',
  orderAmount: '订单金额（元）',
  received: '商家实收（元）',
  outRequestNo: '退款批次号/请求号',
} as const;

const START = /^#-+业务明细列表-+$/;
const END = /^#-+业务明细列表结束-+$/;
const TRADE_TOTAL = /^#交易合计：(\d+)笔，商家实收共：?(-?[0-9.]+)元，商家优惠共：?(-?[0-9.]+)元$/;
const REFUND_TOTAL = /^#退款合计：(\d+)笔，商家实收退款共：?(-?[0-9.]+)元，商家优惠退款共：?(-?[0-9.]+)元$/;
const EXPORTED = /^#导出时间：\[\d{4}年\d{2}月\d{2}日 \d{2}:\d{2}:\d{2}\]$/;
const ACCOUNT = /^#账号：\[(\d+)\]$/;
const PERIOD =
  /^#起始日期：\[(\d{4})年(\d{2})月(\d{2})日 00:00:00\]\s+终止日期：\[\d{4}年\d{2}月\d{2}日 00:00:00\]$/;

function bad(line: number, why: string): VendgateError {
  return new VendgateError(ErrorCode.AlipayBillInvalid, `trade bill line ${line}: ${why}`, {
    line,
    retryable: false,
  });
}

export interface ParseBillOptions {
  /** The bill's day, YYYY-MM-DD: the file must say it covers this day. */
  day: string;
  /** The merchant's partner id: the file must be this account's. */
  sellerId: string;
}

/** Parses the decoded detail CSV into rows; see the file comment for the layout. */
export function parseTradeBillCsv(text: string, opts: ParseBillOptions): BillRow[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  const at = (i: number) => (lines[i] ?? '').trim();
  if (at(0) !== '#支付宝业务明细查询') throw bad(1, 'not an Alipay business detail file (first line)');
  const acct = ACCOUNT.exec(at(1));
  if (!acct) throw bad(2, 'expected "#账号：[<pid>]"');
  if (acct[1] !== opts.sellerId) throw bad(2, 'the bill belongs to another merchant account');
  const period = PERIOD.exec(at(2));
  if (!period) throw bad(3, 'expected the "#起始日期：[...] 终止日期：[...]" period');
  if (`${period[1]}-${period[2]}-${period[3]}` !== opts.day) throw bad(3, `the bill is not for ${opts.day}`);
  if (!START.test(at(3))) throw bad(4, 'expected the 业务明细列表 start marker');
  const header = splitRow(at(4));
  const col = {} as Record<keyof typeof BILL_COLUMNS, number>;
  for (const [k, name] of Object.entries(BILL_COLUMNS) as [keyof typeof BILL_COLUMNS, string][]) {
    const idx = header.indexOf(name);
    if (idx < 0) throw bad(5, `the column header lacks ${name}`);
    col[k] = idx;
  }
  const rows: BillRow[] = [];
  const sums = { payments: 0, paymentFen: 0, refunds: 0, refundFen: 0 };
  let i = 5;
  for (; i < lines.length && !END.test(at(i)); i++) {
    const lineNo = i + 1;
    const fields = splitRow(lines[i]!);
    if (fields.length !== header.length) {
      throw bad(lineNo, `unknown row: ${fields.length} fields where the header has ${header.length}`);
    }
    const f = (k: keyof typeof BILL_COLUMNS) => fields[col[k]]!;
    const kindText = f('kind');
    if (kindText !== '交易' && kindText !== '退款')
      throw bad(lineNo, `unknown row: 业务类型 "${kindText.slice(0, 20)}"`);
    const tradeNo = f('tradeNo');
    const outTradeNo = f('outTradeNo');
    if (!/^[0-9]{16,64}$/.test(tradeNo)) throw bad(lineNo, '支付宝交易号 is not an Alipay trade number');
    if (outTradeNo === '') throw bad(lineNo, '商户订单号 is empty');
    const finished = parseBeijing(f('finishedAt'));
    if (finished === undefined) throw bad(lineNo, '完成时间 is not "yyyy-MM-dd HH:mm:ss"');
    const received = amountOrBad(() => signedYuanToFen(f('received'), '商家实收'), lineNo);
    if (kindText === '交易') {
      const amount = amountOrBad(() => yuanToFen(f('orderAmount'), '订单金额'), lineNo);
      sums.payments++;
      sums.paymentFen += received;
      rows.push({
        outTradeNo,
        transactionId: tradeNo,
        kind: 'payment',
        amount: { amount, currency: ALIPAY_CURRENCY },
        at: finished,
      });
    } else {
      // A refund row carries the original order amount; what went back is the negative 商家实收.
      if (received >= 0) throw bad(lineNo, 'a refund row whose 商家实收 is not negative');
      const outRefundNo = f('outRequestNo');
      if (outRefundNo === '') throw bad(lineNo, 'a refund row without 退款批次号/请求号');
      sums.refunds++;
      sums.refundFen += received;
      rows.push({
        outTradeNo,
        transactionId: tradeNo,
        kind: 'refund',
        amount: { amount: -received, currency: ALIPAY_CURRENCY },
        outRefundNo,
        at: finished,
      });
    }
  }
  if (i >= lines.length) throw bad(i + 1, 'the 业务明细列表结束 end marker is missing (truncated file)');
  const footer = lines.slice(i + 1).map((l) => l.trim());
  const tradeTotal = TRADE_TOTAL.exec(footer[0] ?? '');
  const refundTotal = REFUND_TOTAL.exec(footer[1] ?? '');
  if (!tradeTotal) throw bad(i + 2, 'expected the #交易合计 summary line');
  if (!refundTotal) throw bad(i + 3, 'expected the #退款合计 summary line');
  if (!EXPORTED.test(footer[2] ?? '')) throw bad(i + 4, 'expected the #导出时间 line');
  if (footer.length > 3) throw bad(i + 5, 'unknown row after the summary');
  const tradeFen = amountOrBad(() => signedYuanToFen(tradeTotal[2]!, '交易合计'), i + 2);
  const refundFen = amountOrBad(() => signedYuanToFen(refundTotal[2]!, '退款合计'), i + 3);
  if (Number(tradeTotal[1]) !== sums.payments || tradeFen !== sums.paymentFen) {
    throw bad(i + 2, `the summary says ${tradeTotal[1]} payments of ${tradeTotal[2]}, the rows disagree`);
  }
  if (Number(refundTotal[1]) !== sums.refunds || refundFen !== sums.refundFen) {
    throw bad(i + 3, `the summary says ${refundTotal[1]} refunds of ${refundTotal[2]}, the rows disagree`);
  }
  return rows;
}

/** Fields are comma-separated, unquoted, each possibly padded with a tab (against spreadsheet number formats). */
function splitRow(line: string): string[] {
  return line.split(',').map((s) => s.replace(/^[\s\t]+|[\s\t]+$/g, ''));
}

function amountOrBad(f: () => number, line: number): number {
  try {
    return f();
  } catch (err) {
    throw bad(line, (err as Error).message);
  }
}

/** Unzips the bill archive, picks the detail file, decodes GBK strictly and parses it. */
export function parseTradeBillZip(
  zip: Buffer,
  opts: ParseBillOptions & { maxExpandedBytes: number },
): BillRow[] {
  const entries = readZip(zip, opts.maxExpandedBytes);
  const details = entries.filter((e) => e.name.endsWith('_业务明细.csv'));
  if (details.length !== 1) {
    throw new VendgateError(
      ErrorCode.AlipayBillInvalid,
      `bill archive: expected one *_业务明细.csv, found ${details.length} among ${entries.length} files`,
      { retryable: false },
    );
  }
  let text: string;
  try {
    text = new TextDecoder('gbk', { fatal: true }).decode(details[0]!.data);
  } catch {
    throw new VendgateError(ErrorCode.AlipayBillInvalid, 'bill archive: the detail file is not valid GBK', {
      retryable: false,
    });
  }
  return parseTradeBillCsv(text, opts);
}
