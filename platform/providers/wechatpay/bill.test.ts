import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../core/errors.ts';
import { expectVendgateError } from '../../../testing/index.ts';
import { formatMajorUnits } from './amounts.ts';
import {
  beijingTime,
  DOMESTIC_ALL_HEADER,
  DOMESTIC_SUMMARY_HEADER,
  GLOBAL_HEADER,
  parseDomesticTradeBill,
  parseGlobalStatement,
} from './bill.ts';

// 交易账单详细说明 §1 (ALL bill) with the documented data row (WeChat Cloud "下载对账单" example) and its
// summary made to match that one row.
const DOC_ROW =
  '`2022-03-21 13:51:31,`wxfdc955f7104ad557,`180023671,`176531292,`,`420000612032130748613220688,`2021WERUN1647840687637,`oZWaCKXip5njeEiloC4oeOV1TTsk,`JSAPI,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`微信云托管支付测试,`,`0.00000,`0.90%,`0.01,`0.00,`';
const DOC_BILL = [
  DOMESTIC_ALL_HEADER.join(','),
  DOC_ROW,
  DOMESTIC_SUMMARY_HEADER.join(','),
  '`1,`0.01,`0.00,`0.00,`0.00000,`0.01,`0.00',
  '',
].join('\r\n');

interface Tx {
  kind: 'payment' | 'refund';
  no: number;
  amount: number;
  at: number;
}

function domesticRow(t: Tx): string {
  const f: Record<string, string> = Object.fromEntries(DOMESTIC_ALL_HEADER.map((h) => [h, '']));
  const d = new Date(t.at + 8 * 3600_000).toISOString();
  f.交易时间 = `${d.slice(0, 10)} ${d.slice(11, 19)}`;
  f.公众账号ID = 'wxd678efh567hg6787';
  f.商户号 = '1230000109';
  f.特约商户号 = '0';
  f.微信订单号 = `42000000${String(t.no).padStart(20, '0')}`;
  f.商户订单号 = `order-${String(t.no).padStart(6, '0')}`;
  f.用户标识 = 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o';
  f.交易类型 = 'NATIVE';
  f.交易状态 = t.kind === 'payment' ? 'SUCCESS' : 'REFUND';
  f.付款银行 = 'OTHERS';
  f.货币种类 = 'CNY';
  const a = formatMajorUnits(t.amount, 'CNY');
  f.应结订单金额 = t.kind === 'payment' ? a : '0.00';
  f.代金券金额 = '0.00';
  f.微信退款单号 = t.kind === 'refund' ? `5030${t.no}` : '0';
  f.商户退款单号 = t.kind === 'refund' ? `refund-${t.no}` : '0';
  f.退款金额 = t.kind === 'refund' ? a : '0.00';
  f.充值券退款金额 = '0.00';
  f.退款类型 = t.kind === 'refund' ? 'ORIGINAL' : '';
  f.退款状态 = t.kind === 'refund' ? 'SUCCESS' : '';
  f.商品名称 = 'Cola, 330 ml';
  f.手续费 = '0.00000';
  f.费率 = '0.60%';
  f.订单金额 = t.kind === 'payment' ? a : '0.00';
  f.申请退款金额 = t.kind === 'refund' ? a : '0.00';
  return DOMESTIC_ALL_HEADER.map((h) => `\`${f[h]}`).join(',');
}

function domesticBill(txs: Tx[]): string {
  const sum = (k: Tx['kind']) =>
    formatMajorUnits(
      txs.filter((t) => t.kind === k).reduce((s, t) => s + t.amount, 0),
      'CNY',
    );
  return [
    DOMESTIC_ALL_HEADER.join(','),
    ...txs.map(domesticRow),
    DOMESTIC_SUMMARY_HEADER.join(','),
    [String(txs.length), sum('payment'), sum('refund'), '0.00', '0.00000', sum('payment'), sum('refund')]
      .map((v) => `\`${v}`)
      .join(','),
  ].join('\r\n');
}

const txArb = fc.record({
  kind: fc.constantFrom<Tx['kind']>('payment', 'refund'),
  no: fc.integer({ min: 1, max: 999999 }),
  amount: fc.integer({ min: 1, max: 10_000_000 }),
  at: fc.integer({ min: 1_600_000_000, max: 1_900_000_000 }).map((s) => s * 1000),
});

describe('domestic trade bill parsing', () => {
  it('parses the documented ALL bill row and its summary', () => {
    expect(parseDomesticTradeBill(DOC_BILL, '180023671')).toEqual([
      {
        outTradeNo: '2021WERUN1647840687637',
        transactionId: '420000612032130748613220688',
        kind: 'payment',
        amount: { amount: 1, currency: 'CNY' },
        at: Date.parse('2022-03-21T13:51:31+08:00'),
      },
    ]);
  });

  it('parses refunds with their refund number and a comma inside a product name', () => {
    const at = Date.parse('2024-05-01T12:00:00+08:00');
    const rows = parseDomesticTradeBill(
      domesticBill([
        { kind: 'payment', no: 1, amount: 350, at },
        { kind: 'refund', no: 1, amount: 350, at: at + 60_000 },
      ]),
      '1230000109',
    );
    expect(rows).toEqual([
      {
        outTradeNo: 'order-000001',
        transactionId: '4200000000000000000000000001',
        kind: 'payment',
        amount: { amount: 350, currency: 'CNY' },
        at,
      },
      {
        outTradeNo: 'order-000001',
        transactionId: '4200000000000000000000000001',
        kind: 'refund',
        amount: { amount: 350, currency: 'CNY' },
        outRefundNo: 'refund-1',
        at: at + 60_000,
      },
    ]);
  });

  it('round-trips any set of payments and refunds (property)', () => {
    fc.assert(
      fc.property(fc.array(txArb, { maxLength: 30 }), (txs) => {
        const rows = parseDomesticTradeBill(domesticBill(txs), '1230000109');
        expect(rows.map((r) => [r.kind, r.amount.amount, r.at])).toEqual(
          txs.map((t) => [t.kind, t.amount, t.at]),
        );
      }),
      { numRuns: 100 },
    );
  });

  it('parses an empty day (headers and a zero summary)', () => {
    expect(parseDomesticTradeBill(domesticBill([]), '1230000109')).toEqual([]);
  });

  it('refuses an unknown row, a row of another width, another layout, a bad summary and a truncated file', async () => {
    const at = Date.parse('2024-05-01T12:00:00+08:00');
    const good = domesticBill([{ kind: 'payment', no: 1, amount: 350, at }]);
    const lines = good.split('\r\n');
    const cases: Array<[string, string]> = [
      ['revoked row', good.replace('`SUCCESS', '`REVOKED')],
      ['unticked row', [lines[0], lines[1]!.slice(1), lines[2], lines[3]].join('\n')],
      ['short row', [lines[0], lines[1]!.split(',`').slice(0, 20).join(',`'), lines[2], lines[3]].join('\n')],
      ['old layout', good.replace('应结订单金额,代金券金额', '总金额,代金券或立减优惠金额')],
      ['summary count', good.replace('`1,`3.50', '`2,`3.50')],
      ['summary total', good.replace('`1,`3.50', '`1,`3.60')],
      ['truncated', lines.slice(0, 2).join('\n')],
      ['no summary row', lines.slice(0, 3).join('\n')],
      ['trailing junk', `${good}\n\`junk`],
      ['other merchant', good.replaceAll('`1230000109', '`1900000001')],
      ['other currency', good.replace('`CNY', '`USD')],
      ['bad time', good.replace(/`2024-05-01 12:00:00/, '`2024/05/01 12:00')],
    ];
    for (const [, text] of cases) {
      await expectVendgateError(
        () => parseDomesticTradeBill(text, '1230000109'),
        ErrorCode.ProviderBillInvalid,
      );
    }
  });

  it('never throws anything but a bill error on arbitrary text (property)', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        try {
          parseDomesticTradeBill(`${DOMESTIC_ALL_HEADER.join(',')}\n${s}`, '1230000109');
        } catch (err) {
          expect((err as { code?: number }).code).toBe(ErrorCode.ProviderBillInvalid);
        }
      }),
    );
  });

  it('reads bill times as Beijing time', () => {
    expect(beijingTime('2015-01-01 10:00:00', 2)).toBe(Date.parse('2015-01-01T02:00:00Z'));
  });
});

describe('Global statement parsing', () => {
  function globalRow(kind: 'SUCCESS' | 'REFUND', amount: string): string {
    const f: Record<string, string> = Object.fromEntries(GLOBAL_HEADER.map((h) => [h, '']));
    Object.assign(f, {
      交易时间: '2024-05-01 12:00:00',
      公众账号ID: 'wxd678efh567hg6787',
      商户号: '1230000109',
      微信订单号: '4200000000000000000000000001',
      商户订单号: 'order-000001',
      交易类型: 'NATIVE',
      交易状态: kind,
      标价币种: 'EUR',
      '订单金额(标价币种)': kind === 'SUCCESS' ? amount : '0.00',
      用户支付币种: 'CNY',
      用户支付金额: '27.49',
      结算币种: 'EUR',
      应结订单金额: amount,
      支付汇率: '785312345',
      商户退款单号: kind === 'REFUND' ? 'refund-1' : '',
      申请退款金额: kind === 'REFUND' ? amount : '0.00',
    });
    return GLOBAL_HEADER.map((h) => `\`${f[h]}`).join(',');
  }

  it('parses the documented 38-column layout in the pricing currency', () => {
    // Downloading Reconciliation (/v3/global/statements) §3: the header, then back-tick rows.
    const text = [GLOBAL_HEADER.join(','), globalRow('SUCCESS', '3.50'), globalRow('REFUND', '3.50')].join(
      '\n',
    );
    const rows = parseGlobalStatement(text, '1230000109', 'EUR');
    expect(rows.map((r) => [r.kind, r.amount, r.outRefundNo])).toEqual([
      ['payment', { amount: 350, currency: 'EUR' }, undefined],
      ['refund', { amount: 350, currency: 'EUR' }, 'refund-1'],
    ]);
  });

  it('refuses rows priced in another currency and unknown rows', async () => {
    const text = [GLOBAL_HEADER.join(','), globalRow('SUCCESS', '3.50')].join('\n');
    await expectVendgateError(
      () => parseGlobalStatement(text, '1230000109', 'USD'),
      ErrorCode.ProviderBillInvalid,
    );
    await expectVendgateError(
      () => parseGlobalStatement(`${text}\n\`总交易单数`, '1230000109', 'EUR'),
      ErrorCode.ProviderBillInvalid,
    );
  });
});
