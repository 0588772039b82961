import fc from 'fast-check';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../core/errors.ts';
import { expectVendgateError } from '../../../testing/index.ts';
import { parseTradeBillCsv, parseTradeBillZip } from './bill.ts';
import { parseBeijing } from './time.ts';
import { writeTestZip } from './zip-writer.test-support.ts';

const HEADER =
  '支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注';

function row(f: {
  tradeNo: string;
  out: string;
  kind: string;
  finished: string;
  order: string;
  received: string;
  refundNo?: string;
}): string {
  const fields = [
    f.tradeNo,
    f.out,
    f.kind,
    '可乐 330 ml',
    f.finished,
    f.finished,
    '',
    '',
    '',
    '',
    '138****0000',
    f.order,
    f.received,
    '0.00',
    '0.00',
    '0.00',
    '0.00',
    '0.00',
    '',
    '0.00',
    '0.00',
    f.refundNo ?? '',
    '0.00',
    '0.00',
    '',
  ];
  return fields.map((x) => `${x}\t`).join(',');
}

function bill(rows: string[], footer?: { trades: string; refunds: string }): string {
  return [
    '#支付宝业务明细查询',
    '#账号：[2088000000000001]',
    '#起始日期：[2016年04月05日 00:00:00]   终止日期：[2016年04月06日 00:00:00]',
    '#-----------------------------------------业务明细列表----------------------------------------',
    HEADER,
    ...rows,
    '#-----------------------------------------业务明细列表结束------------------------------------',
    footer?.trades ?? '#交易合计：2笔，商家实收共0.03元，商家优惠共0.00元',
    footer?.refunds ?? '#退款合计：1笔，商家实收退款共-0.01元，商家优惠退款共0.00元',
    '#导出时间：[2016年04月06日 09:37:33]',
    '',
  ].join('\r\n');
}

// The documented layout of the business detail file (opendocs.alipay.com/open/028woc, 账单格式):
// two payments and a partial refund of the first.
const EXAMPLE_ROWS = [
  row({
    tradeNo: '2016040521001004160200179446',
    out: 'vg20160405a',
    kind: '交易',
    finished: '2016-04-05 11:12:30',
    order: '0.02',
    received: '0.02',
  }),
  row({
    tradeNo: '2016040521001004160200179447',
    out: 'vg20160405b',
    kind: '交易',
    finished: '2016-04-05 12:00:01',
    order: '0.01',
    received: '0.01',
  }),
  row({
    tradeNo: '2016040521001004160200179446',
    out: 'vg20160405a',
    kind: '退款',
    finished: '2016-04-05 13:00:00',
    order: '0.02',
    received: '-0.01',
    refundNo: 'vg20160405ar1',
  }),
];
const OPTS = { day: '2016-04-05', sellerId: '2088000000000001' };

describe('the Alipay trade bill', () => {
  it('parses the documented layout into payment and refund rows', () => {
    expect(parseTradeBillCsv(bill(EXAMPLE_ROWS), OPTS)).toEqual([
      {
        outTradeNo: 'vg20160405a',
        transactionId: '2016040521001004160200179446',
        kind: 'payment',
        amount: { amount: 2, currency: 'CNY' },
        at: parseBeijing('2016-04-05 11:12:30'),
      },
      {
        outTradeNo: 'vg20160405b',
        transactionId: '2016040521001004160200179447',
        kind: 'payment',
        amount: { amount: 1, currency: 'CNY' },
        at: parseBeijing('2016-04-05 12:00:01'),
      },
      {
        outTradeNo: 'vg20160405a',
        transactionId: '2016040521001004160200179446',
        kind: 'refund',
        amount: { amount: 1, currency: 'CNY' },
        outRefundNo: 'vg20160405ar1',
        at: parseBeijing('2016-04-05 13:00:00'),
      },
    ]);
  });

  it('reads the GBK detail file out of the zip Alipay serves', () => {
    const zip = writeTestZip([
      {
        name: iconv.encode('2088000000000001_20160405_业务明细.csv', 'gbk'),
        data: iconv.encode(bill(EXAMPLE_ROWS), 'gbk'),
        deflate: true,
      },
      {
        name: iconv.encode('2088000000000001_20160405_业务明细(汇总).csv', 'gbk'),
        data: iconv.encode('#支付宝业务汇总查询\r\n', 'gbk'),
      },
    ]);
    expect(parseTradeBillZip(zip, { ...OPTS, maxExpandedBytes: 1 << 20 })).toHaveLength(3);
  });

  it('refuses a detail file that is not GBK (e.g. served as UTF-8)', async () => {
    const zip = writeTestZip([
      {
        name: iconv.encode('2088000000000001_20160405_业务明细.csv', 'gbk'),
        data: Buffer.from([0x23, 0xff, 0xff, 0x0a]),
      },
    ]);
    await expectVendgateError(
      () => parseTradeBillZip(zip, { ...OPTS, maxExpandedBytes: 1 << 20 }),
      ErrorCode.AlipayBillInvalid,
    );
  });

  it('refuses an unknown row kind, a short row and a line after the summary', async () => {
    const frozen = row({
      tradeNo: '2016040521001004160200179448',
      out: 'x',
      kind: '冻结',
      finished: '2016-04-05 11:00:00',
      order: '0.01',
      received: '0.01',
    });
    const e1 = await expectVendgateError(
      () => parseTradeBillCsv(bill([...EXAMPLE_ROWS, frozen]), OPTS),
      ErrorCode.AlipayBillInvalid,
    );
    expect(e1.message).toContain('unknown row');
    expect(e1.context.line).toBe(9);
    await expectVendgateError(
      () => parseTradeBillCsv(bill([...EXAMPLE_ROWS, 'a,b,c']), OPTS),
      ErrorCode.AlipayBillInvalid,
    );
    await expectVendgateError(
      () => parseTradeBillCsv(`${bill(EXAMPLE_ROWS)}#something else\r\n`, OPTS),
      ErrorCode.AlipayBillInvalid,
    );
  });

  it('refuses a bill whose summary totals disagree with its rows (its checksum)', async () => {
    await expectVendgateError(
      () =>
        parseTradeBillCsv(
          bill(EXAMPLE_ROWS, {
            trades: '#交易合计：2笔，商家实收共0.04元，商家优惠共0.00元',
            refunds: '#退款合计：1笔，商家实收退款共-0.01元，商家优惠退款共0.00元',
          }),
          OPTS,
        ),
      ErrorCode.AlipayBillInvalid,
    );
    await expectVendgateError(
      () =>
        parseTradeBillCsv(
          bill(EXAMPLE_ROWS, {
            trades: '#交易合计：2笔，商家实收共0.03元，商家优惠共0.00元',
            refunds: '#退款合计：0笔，商家实收退款共0.00元，商家优惠退款共0.00元',
          }),
          OPTS,
        ),
      ErrorCode.AlipayBillInvalid,
    );
  });

  it("refuses another merchant's bill, another day's bill and a truncated one", async () => {
    await expectVendgateError(
      () => parseTradeBillCsv(bill(EXAMPLE_ROWS), { ...OPTS, sellerId: '2088000000000002' }),
      ErrorCode.AlipayBillInvalid,
    );
    await expectVendgateError(
      () => parseTradeBillCsv(bill(EXAMPLE_ROWS), { ...OPTS, day: '2016-04-06' }),
      ErrorCode.AlipayBillInvalid,
    );
    const text = bill(EXAMPLE_ROWS);
    const lines = text.split('\r\n');
    for (let n = 1; n < lines.length - 2; n++) {
      await expectVendgateError(
        () => parseTradeBillCsv(lines.slice(0, n).join('\r\n'), OPTS),
        ErrorCode.AlipayBillInvalid,
      );
    }
  });

  it('parses any set of rows back to what was written, with totals that match', () => {
    const entry = fc.record({
      refund: fc.boolean(),
      fen: fc.integer({ min: 1, max: 10_000_000 }),
      second: fc.integer({ min: 0, max: 86_399 }),
      id: fc.stringMatching(/^[A-Za-z0-9_-]{6,32}$/),
    });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 20 }), (entries) => {
        const y = (fen: number) => `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;
        const at = (s: number) => {
          const d = new Date(Date.UTC(2016, 3, 5, 0, 0, s));
          return `2016-04-05 ${d.toISOString().slice(11, 19)}`;
        };
        const rows = entries.map((e, i) =>
          row({
            tradeNo: `20160405210010041602${String(i).padStart(8, '0')}`,
            out: e.id,
            kind: e.refund ? '退款' : '交易',
            finished: at(e.second),
            order: y(e.fen),
            received: e.refund ? `-${y(e.fen)}` : y(e.fen),
            refundNo: e.refund ? `${e.id}r` : '',
          }),
        );
        const pays = entries.filter((e) => !e.refund);
        const refunds = entries.filter((e) => e.refund);
        const sum = (es: typeof entries) => es.reduce((a, e) => a + e.fen, 0);
        const text = bill(rows, {
          trades: `#交易合计：${pays.length}笔，商家实收共${y(sum(pays))}元，商家优惠共0.00元`,
          refunds: `#退款合计：${refunds.length}笔，商家实收退款共${refunds.length ? '-' : ''}${y(sum(refunds))}元，商家优惠退款共0.00元`,
        });
        const parsed = parseTradeBillCsv(text, OPTS);
        expect(parsed.map((r) => [r.kind, r.outTradeNo, r.amount.amount, r.outRefundNo])).toEqual(
          entries.map((e) => [
            e.refund ? 'refund' : 'payment',
            e.id,
            e.fen,
            e.refund ? `${e.id}r` : undefined,
          ]),
        );
      }),
      { numRuns: 50 },
    );
  });
});
