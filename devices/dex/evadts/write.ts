/**
 * The EVA-DTS writer: the inverse of parse.ts for the segments vendgate
 * reads. The simulated machine (firmware-sim/dex/) and the tests use it to
 * make audits; `sealTransactionSet` adds G85 (the CRC-16 of the transaction
 * set) and SE (its segment count) to any body, so a fixture written by hand
 * gets the same checks a machine would write.
 */
import { crc16Text, crcHex } from '../crc16.ts';
import { fromMinorUnits, minorDigits } from './currency.ts';
import type { DeviceId, DexAudit, SelectionAudit, ValueCount } from './types.ts';

/** What the writer takes: the read fields of an audit; absent fields are written empty. */
export type AuditToWrite = Pick<
  DexAudit,
  | 'header'
  | 'machine'
  | 'decimalPlaces'
  | 'currency'
  | 'paidVends'
  | 'paidVendsSinceReset'
  | 'testVends'
  | 'freeVends'
  | 'coinMech'
  | 'cashSales'
  | 'cashSalesSinceReset'
  | 'cashIn'
  | 'cashDispensed'
  | 'billValidator'
  | 'cashless'
  | 'selections'
  | 'events'
> & {
  controlNumber?: string;
  /** Segment lines written as they are before G85, e.g. segments vendgate does not read. */
  extra?: string[];
};

const CRLF = '\r\n';

/** The whole audit text, DXS through DXE, lines ended by CR LF. */
export function writeEvaDts(a: AuditToWrite): string {
  const minor = minorDigits(a.currency) ?? 2;
  const m = (v: number | undefined) =>
    v === undefined ? '' : String(fromMinorUnits(v, a.decimalPlaces, minor));
  const n = (v: number | undefined) => (v === undefined ? '' : String(v));
  const vc = (p: ValueCount) => [m(p.value), n(p.count)];
  const dev = (d: DeviceId) => [d.serial ?? '', d.model ?? '', d.softwareRevision ?? ''];
  const seg = (id: string, ...el: string[]) => {
    while (el.length > 0 && el[el.length - 1] === '') el.pop();
    return [id, ...el].join('*');
  };
  const body: string[] = [];
  body.push(
    seg(
      'ID1',
      a.machine.serial ?? '',
      a.machine.model ?? '',
      a.machine.build ?? '',
      a.machine.location ?? '',
      '',
      a.machine.assetNumber ?? '',
    ),
  );
  body.push(seg('ID4', String(a.decimalPlaces), '', a.currency));
  if (a.coinMech.serial || a.coinMech.model) body.push(seg('CA1', ...dev(a.coinMech)));
  if (a.billValidator.serial || a.billValidator.model) body.push(seg('BA1', ...dev(a.billValidator)));
  for (const c of a.cashless) if (c.id.serial || c.id.model) body.push(seg(`${c.device}1`, ...dev(c.id)));
  body.push(seg('VA1', ...vc(a.paidVends), ...vc(a.paidVendsSinceReset)));
  if (a.testVends.value !== undefined || a.testVends.count !== undefined)
    body.push(seg('VA2', ...vc(a.testVends)));
  if (a.freeVends.value !== undefined || a.freeVends.count !== undefined)
    body.push(seg('VA3', ...vc(a.freeVends)));
  if (a.cashSales.value !== undefined || a.cashSales.count !== undefined)
    body.push(seg('CA2', ...vc(a.cashSales), ...vc(a.cashSalesSinceReset)));
  if (Object.keys(a.cashIn).length > 0)
    body.push(
      seg(
        'CA3',
        m(a.cashIn.coinsSinceReset),
        '',
        '',
        m(a.cashIn.billsSinceReset),
        m(a.cashIn.coins),
        '',
        '',
        m(a.cashIn.bills),
      ),
    );
  if (Object.keys(a.cashDispensed).length > 0)
    body.push(seg('CA4', m(a.cashDispensed.sinceReset), '', m(a.cashDispensed.sinceInit)));
  for (const c of a.cashless) body.push(seg(`${c.device}2`, ...vc(c.sales), ...vc(c.salesSinceReset)));
  for (const s of a.selections) body.push(...selectionLines(s, m, n, seg));
  for (const e of a.events) {
    if (e.segment === 'EA1') body.push(seg('EA1', e.eventId ?? '', e.date ?? '', e.time ?? ''));
    else if (e.segment === 'EA2')
      body.push(
        seg(
          'EA2',
          e.eventId ?? '',
          n(e.countSinceReset),
          n(e.countSinceInit),
          '',
          e.active === undefined ? '' : e.active ? '1' : '0',
        ),
      );
    else body.push(seg(e.segment, ...e.fields));
  }
  body.push(...(a.extra ?? []));
  const dxs = seg(
    'DXS',
    a.header.communicationId ?? '',
    a.header.functionalId ?? 'VA',
    a.header.version ?? 'V1/1',
    '1',
  );
  return `${[dxs, ...sealTransactionSet(body, a.controlNumber ?? '0001')].join(CRLF)}${CRLF}`;
}

function selectionLines(
  s: SelectionAudit,
  m: (v: number | undefined) => string,
  n: (v: number | undefined) => string,
  seg: (id: string, ...el: string[]) => string,
): string[] {
  return [
    seg('PA1', s.selection, m(s.price), s.productId ?? ''),
    seg('PA2', n(s.paid.count), m(s.paid.value), n(s.paidSinceReset.count), m(s.paidSinceReset.value)),
  ];
}

/**
 * ST, the body, G85 with the CRC-16 of ST through the body (each line with
 * CR LF), SE with the segment count (ST through SE, LS/LE loop markers not
 * counted), and DXE.
 */
export function sealTransactionSet(body: readonly string[], controlNumber = '0001'): string[] {
  const st = `ST*001*${controlNumber}`;
  let crc = 0;
  for (const line of [st, ...body]) crc = crc16Text(`${line}${CRLF}`, crc);
  const counted = 1 + body.filter((l) => !/^L[SE]\*/.test(l)).length + 2;
  return [st, ...body, `G85*${crcHex(crc)}`, `SE*${counted}*${controlNumber}`, 'DXE*1*1'];
}
