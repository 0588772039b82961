/**
 * Writes the trade bill as Alipay serves it: a zip holding
 * `<pid>_<yyyymmdd>_业务明细.csv` and `<pid>_<yyyymmdd>_业务明细(汇总).csv`,
 * GBK-encoded, names in GBK without the UTF-8 flag, every detail field
 * followed by a tab (opendocs.alipay.com/open/028woc, 账单格式). The zip is
 * written by hand (PKWARE APPNOTE 4.3: local headers, deflated data,
 * central directory, end record) with real CRC-32s.
 */
import { crc32, deflateRawSync } from 'node:zlib';
import iconv from 'iconv-lite';
import { beijing, yuan } from './wire.ts';

export interface BillLine {
  tradeNo: string;
  outTradeNo: string;
  kind: 'payment' | 'refund';
  subject: string;
  createdAt: number;
  finishedAt: number;
  /** The order's total, fen. */
  orderFen: number;
  /** What the merchant received: the total for a payment, minus the refund for a refund. */
  receivedFen: number;
  outRequestNo: string;
  buyerLogonId: string;
}

const HEADER = [
  '支付宝交易号',
  '商户订单号',
  '业务类型',
  '商品名称',
  '创建时间',
  '完成时间',
  '门店编号',
  '门店名称',
  '操作员',
  '终端号',
  '对方账户',
  '订单金额（元）',
  '商家实收（元）',
  '支付宝红包（元）',
  '集分宝（元）',
  '支付宝优惠（元）',
  '商家优惠（元）',
  '券核销金额（元）',
  '券名称',
  '商家红包消费金额（元）',
  '卡消费金额（元）',
  '退款批次号/请求号',
  '服务费（元）',
  '分润（元）',
  '备注',
];

function cnDate(ms: number): string {
  const s = beijing(ms);
  return `${s.slice(0, 4)}年${s.slice(5, 7)}月${s.slice(8, 10)}日 ${s.slice(11)}`;
}

export interface BillFileOptions {
  sellerId: string;
  day: string;
  lines: BillLine[];
  now: number;
  /** Test faults: corrupt the zip's CRC, or add a row of an unknown kind. */
  corrupt?: 'crc' | 'unknown-row' | 'footer-total';
}

export function detailCsv(o: BillFileOptions): string {
  const dayStart = Date.parse(`${o.day}T00:00:00+08:00`);
  const out: string[] = [
    '#支付宝业务明细查询',
    `#账号：[${o.sellerId}]`,
    `#起始日期：[${cnDate(dayStart)}]   终止日期：[${cnDate(dayStart + 86_400_000)}]`,
    '#-----------------------------------------业务明细列表----------------------------------------',
    HEADER.join(','),
  ];
  let pays = 0;
  let payFen = 0;
  let refunds = 0;
  let refundFen = 0;
  for (const l of o.lines) {
    const fields = [
      l.tradeNo,
      l.outTradeNo,
      l.kind === 'payment' ? '交易' : '退款',
      l.subject.replace(/[,\r\n]/g, ' '),
      beijing(l.createdAt),
      beijing(l.finishedAt),
      '',
      '',
      '',
      '',
      l.buyerLogonId,
      yuan(l.orderFen),
      yuan(l.receivedFen, true),
      '0.00',
      '0.00',
      '0.00',
      '0.00',
      '0.00',
      '',
      '0.00',
      '0.00',
      l.kind === 'refund' ? l.outRequestNo : '',
      '0.00',
      '0.00',
      '',
    ];
    out.push(fields.map((f) => `${f}\t`).join(','));
    if (l.kind === 'payment') {
      pays++;
      payFen += l.receivedFen;
    } else {
      refunds++;
      refundFen += l.receivedFen;
    }
  }
  if (o.corrupt === 'unknown-row')
    out.push(`${'9'.repeat(28)}\t,X\t,冻结\t${',\t'.repeat(HEADER.length - 3)}`);
  if (o.corrupt === 'footer-total') payFen += 1;
  out.push('#-----------------------------------------业务明细列表结束------------------------------------');
  out.push(`#交易合计：${pays}笔，商家实收共${yuan(payFen, true)}元，商家优惠共0.00元`);
  out.push(`#退款合计：${refunds}笔，商家实收退款共${yuan(refundFen, true)}元，商家优惠退款共0.00元`);
  out.push(`#导出时间：[${cnDate(o.now)}]`);
  return `${out.join('\r\n')}\r\n`;
}

function summaryCsv(o: BillFileOptions): string {
  const pays = o.lines.filter((l) => l.kind === 'payment');
  const refunds = o.lines.filter((l) => l.kind === 'refund');
  const sum = (ls: BillLine[]) => ls.reduce((a, l) => a + l.receivedFen, 0);
  return [
    '#支付宝业务汇总查询',
    `#账号：[${o.sellerId}]`,
    '#----------------------------------------业务汇总列表----------------------------------------',
    '门店编号,门店名称,交易订单总笔数,退款订单总笔数,已收入笔数,订单金额（元）,商家实收（元）',
    `合计,,${pays.length},${refunds.length},${pays.length},${yuan(sum(pays))},${yuan(sum(pays) + sum(refunds), true)}`,
    '#----------------------------------------业务汇总列表结束-------------------------------------',
    `#导出时间：[${cnDate(o.now)}]`,
    '',
  ].join('\r\n');
}

export function billZip(o: BillFileOptions): Buffer {
  const stamp = o.day.replaceAll('-', '');
  const files = [
    { name: `${o.sellerId}_${stamp}_业务明细.csv`, data: iconv.encode(detailCsv(o), 'gbk') },
    { name: `${o.sellerId}_${stamp}_业务明细(汇总).csv`, data: iconv.encode(summaryCsv(o), 'gbk') },
  ];
  return zip(files, o.corrupt === 'crc');
}

function zip(files: { name: string; data: Buffer }[], badCrc: boolean): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const f of files) {
    const name = iconv.encode(f.name, 'gbk');
    const packed = deflateRawSync(f.data);
    const crc = (crc32(f.data) ^ (badCrc ? 1 : 0)) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed: 2.0 (deflate)
    local.writeUInt16LE(0, 6); // flags: names are not UTF-8
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt32LE(0, 10); // DOS time/date: not used by readers of bills
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(f.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(0, 12);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(f.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, packed);
    centrals.push(central, name);
    offset += 30 + name.length + packed.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
