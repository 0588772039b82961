/**
 * The EVA-DTS parser: a pure function from the audit text to a typed audit
 * (types.ts). EVA-DTS 6.x "Data Dictionary" and "Transaction set": one
 * segment per line, elements separated by `*`, the transaction set framed
 * by ST ... SE inside DXS ... DXE; G85 carries the CRC-16 of the
 * transaction set (from the ST line through the line before G85, each line
 * ended by CR LF, as four hex digits); SE01 counts the segments from ST
 * through SE, the LS/LE loop markers not included.
 *
 * It never throws on a malformed audit it can read at all: what is wrong is
 * listed in `problems` (a bad number, a G85 that does not match, a missing
 * SE or DXE of a truncated audit), unknown segments are kept and counted.
 * It throws a VendgateError only for text that is not an audit (no DXS and
 * ST, binary bytes) or beyond its bounds.
 */
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import { crc16Text, crcHex } from '../crc16.ts';
import { currencyFromNumeric, minorDigits, toMinorUnits } from './currency.ts';
import type { AuditEvent, DeviceId, DexAudit, SelectionAudit, ValueCount } from './types.ts';

export interface ParseOptions {
  /** The currency when the audit's ID4 names none vendgate knows. Default "CNY". */
  defaultCurrency?: string;
  /** Bounds. Defaults: 1 MiB of text, 50 000 segments, 128 elements per segment, 256 characters per element. */
  maxChars?: number;
  maxSegments?: number;
  maxElements?: number;
  maxElementChars?: number;
}

/** Problems listed at most, so a hostile audit cannot grow them without bound. */
const MAX_PROBLEMS = 50;
/** Unknown segments kept at most (all are counted). */
const MAX_UNKNOWN_KEPT = 200;
const SEGMENT_ID = /^[A-Z][A-Z0-9]{1,5}$/;
/** Loop markers (EVA-DTS "LS/LE loop"), not counted in SE01. */
const LOOP_MARKERS = new Set(['LS', 'LE']);

interface Line {
  no: number;
  raw: string;
  id: string;
  el: string[];
}

export function parseEvaDts(text: string, options: ParseOptions = {}): DexAudit {
  const maxChars = options.maxChars ?? 1_048_576;
  const maxSegments = options.maxSegments ?? 50_000;
  const maxElements = options.maxElements ?? 128;
  const maxElementChars = options.maxElementChars ?? 256;
  if (typeof text !== 'string') throw new VendgateError(ErrorCode.DexAuditInvalid, 'the audit is not text');
  if (text.length > maxChars)
    throw new VendgateError(
      ErrorCode.DexTooLarge,
      `the audit is ${text.length} characters, more than ${maxChars}`,
      {
        maxChars,
      },
    );
  // Printable ASCII, CR, LF and TAB; anything else means binary data or a broken link, not an audit.
  const bad = /[^\x20-\x7e\r\n\t]/.exec(text);
  if (bad) {
    const line = text.slice(0, bad.index).split(/\r\n|\n|\r/).length;
    throw new VendgateError(
      ErrorCode.DexAuditInvalid,
      `the audit has a byte 0x${bad[0].charCodeAt(0).toString(16).padStart(2, '0')} that is not printable ASCII, on line ${line}`,
      { line },
    );
  }
  const rawLines = text.split(/\r\n|\n|\r/);
  const lines: Line[] = [];
  const problems: string[] = [];
  const problem = (p: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
    else if (problems.length === MAX_PROBLEMS) problems.push('more problems not listed');
  };
  for (let i = 0; i < rawLines.length; i++) {
    const raw = rawLines[i]!;
    if (raw.trim() === '') continue;
    if (lines.length >= maxSegments)
      throw new VendgateError(ErrorCode.DexTooLarge, `the audit has more than ${maxSegments} segments`, {
        maxSegments,
      });
    const parts = raw.split('*');
    if (parts.length - 1 > maxElements)
      throw new VendgateError(
        ErrorCode.DexTooLarge,
        `line ${i + 1}: segment ${parts[0]!.slice(0, 8)} has ${parts.length - 1} elements, more than ${maxElements}`,
        { line: i + 1, maxElements },
      );
    const el = parts.slice(1).map((e) => e.trim());
    if (el.some((e) => e.length > maxElementChars))
      throw new VendgateError(
        ErrorCode.DexTooLarge,
        `line ${i + 1}: an element is longer than ${maxElementChars} characters`,
        { line: i + 1, maxElementChars },
      );
    lines.push({ no: i + 1, raw, id: parts[0]!.trim(), el });
  }
  if (lines[0]?.id !== 'DXS')
    throw new VendgateError(ErrorCode.DexAuditInvalid, 'the audit does not start with a DXS segment', {
      line: lines[0]?.no ?? 1,
    });
  const stIndex = lines.findIndex((l) => l.id === 'ST');
  if (stIndex < 0) throw new VendgateError(ErrorCode.DexAuditInvalid, 'the audit has no ST segment');

  // ID4 first: every amount depends on its decimal places.
  const id4 = lines.find((l) => l.id === 'ID4');
  const fallback = options.defaultCurrency ?? 'CNY';
  let currency = fallback;
  const alpha = id4?.el[2]?.toUpperCase();
  if (alpha && minorDigits(alpha) !== undefined) currency = alpha;
  else {
    const fromNumeric = id4?.el[1] ? currencyFromNumeric(id4.el[1]) : undefined;
    if (fromNumeric) currency = fromNumeric;
  }
  const minor = minorDigits(currency) ?? 2;
  let decimalPlaces = minor;
  if (id4?.el[0]) {
    if (/^[0-4]$/.test(id4.el[0])) decimalPlaces = Number(id4.el[0]);
    else problem(`line ${id4.no}: ID401 decimal places "${id4.el[0]}" is not 0-4`);
  }

  const int = (l: Line, i: number): number | undefined => {
    const s = l.el[i];
    if (s === undefined || s === '') return undefined;
    if (!/^\d{1,15}$/.test(s)) {
      problem(
        `line ${l.no}: ${l.id}${String(i + 1).padStart(2, '0')} "${s.slice(0, 20)}" is not a whole number`,
      );
      return undefined;
    }
    return Number(s);
  };
  const money = (l: Line, i: number): number | undefined => {
    const n = int(l, i);
    if (n === undefined) return undefined;
    const v = toMinorUnits(n, decimalPlaces, minor);
    if (v === undefined)
      problem(
        `line ${l.no}: ${l.id}${String(i + 1).padStart(2, '0')} ${n} is not a whole number of ${currency} minor units`,
      );
    return v;
  };
  const str = (l: Line, i: number): string | undefined => (l.el[i] ? l.el[i] : undefined);
  const pair = (l: Line, valueAt: number, countAt: number): ValueCount =>
    compact({ value: money(l, valueAt), count: int(l, countAt) });
  const deviceId = (l: Line): DeviceId =>
    compact({ serial: str(l, 0), model: str(l, 1), softwareRevision: str(l, 2) });

  const audit: DexAudit = {
    header: compact({
      communicationId: str(lines[0]!, 0),
      functionalId: str(lines[0]!, 1),
      version: str(lines[0]!, 2),
    }),
    machine: {},
    decimalPlaces,
    currency,
    paidVends: {},
    paidVendsSinceReset: {},
    testVends: {},
    freeVends: {},
    coinMech: {},
    cashSales: {},
    cashSalesSinceReset: {},
    cashIn: {},
    cashDispensed: {},
    billValidator: {},
    cashless: [],
    selections: [],
    events: [],
    g85: { ok: null },
    segmentCount: { counted: 0, ok: null },
    unknown: [],
    unknownCount: 0,
    problems,
  };
  let unknownCount = 0;
  let selection: SelectionAudit | undefined;
  let g85Index = -1;
  let seIndex = -1;
  let dxe = false;
  const cashless = (device: 'DA' | 'DB') => {
    let c = audit.cashless.find((x) => x.device === device);
    if (!c) {
      c = { device, id: {}, sales: {}, salesSinceReset: {} };
      audit.cashless.push(c);
    }
    return c;
  };

  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]!;
    if (!SEGMENT_ID.test(l.id)) {
      problem(`line ${l.no}: "${l.id.slice(0, 12)}" is not a segment identifier`);
      continue;
    }
    if (seIndex >= 0 && l.id !== 'DXE') {
      problem(`line ${l.no}: ${l.id} after SE (only DXE may follow)`);
      continue;
    }
    switch (l.id) {
      case 'ST':
        if (i !== stIndex) problem(`line ${l.no}: a second ST; only the first transaction set is read`);
        else audit.controlNumber = str(l, 1);
        break;
      case 'ID1':
        audit.machine = compact({
          serial: str(l, 0),
          model: str(l, 1),
          build: str(l, 2),
          location: str(l, 3),
          assetNumber: str(l, 5),
        });
        break;
      case 'ID4':
        break; // read above
      case 'VA1':
        audit.paidVends = pair(l, 0, 1);
        audit.paidVendsSinceReset = pair(l, 2, 3);
        break;
      case 'VA2':
        audit.testVends = pair(l, 0, 1);
        break;
      case 'VA3':
        audit.freeVends = pair(l, 0, 1);
        break;
      case 'CA1':
        audit.coinMech = deviceId(l);
        break;
      case 'CA2':
        audit.cashSales = pair(l, 0, 1);
        audit.cashSalesSinceReset = pair(l, 2, 3);
        break;
      case 'CA3':
        audit.cashIn = compact({
          coinsSinceReset: money(l, 0),
          billsSinceReset: money(l, 3),
          coins: money(l, 4),
          bills: money(l, 7),
        });
        break;
      case 'CA4':
        audit.cashDispensed = compact({ sinceReset: money(l, 0), sinceInit: money(l, 2) });
        break;
      case 'BA1':
        audit.billValidator = deviceId(l);
        break;
      case 'DA1':
      case 'DB1':
        cashless(l.id === 'DA1' ? 'DA' : 'DB').id = deviceId(l);
        break;
      case 'DA2':
      case 'DB2': {
        const c = cashless(l.id === 'DA2' ? 'DA' : 'DB');
        c.sales = pair(l, 0, 1);
        c.salesSinceReset = pair(l, 2, 3);
        break;
      }
      case 'PA1': {
        const sel = str(l, 0);
        if (!sel) {
          problem(`line ${l.no}: PA1 without a selection number`);
          selection = undefined;
          break;
        }
        selection = compact({
          selection: sel,
          price: money(l, 1),
          productId: str(l, 2),
          paid: {},
          paidSinceReset: {},
        });
        audit.selections.push(selection);
        break;
      }
      case 'PA2':
        if (!selection) {
          problem(`line ${l.no}: PA2 before any PA1 (which selection?)`);
          break;
        }
        // PA2 lists the count first, then the value (unlike VA1).
        selection.paid = pair(l, 1, 0);
        selection.paidSinceReset = pair(l, 3, 2);
        break;
      case 'G85':
        g85Index = i;
        audit.g85.written = str(l, 0)?.toUpperCase();
        break;
      case 'SE':
        seIndex = i;
        audit.segmentCount.written = int(l, 0);
        break;
      case 'DXE':
        dxe = true;
        break;
      case 'LS':
      case 'LE':
        break;
      default:
        if (/^EA\d+$/.test(l.id)) {
          audit.events.push(eventOf(l, int));
          break;
        }
        unknownCount++;
        if (audit.unknown.length < MAX_UNKNOWN_KEPT)
          audit.unknown.push({ line: l.no, id: l.id, fields: l.el });
    }
  }
  audit.unknownCount = unknownCount;

  // G85: CRC-16 over the transaction set from ST to the segment before G85, each line with CR LF.
  if (g85Index < 0) problem('no G85 segment: the audit carries no CRC (truncated?)');
  else {
    let crc = 0;
    for (let i = stIndex; i < g85Index; i++) crc = crc16Text(`${lines[i]!.raw}\r\n`, crc);
    audit.g85.computed = crcHex(crc);
    audit.g85.ok = audit.g85.written === audit.g85.computed;
    if (!audit.g85.ok)
      problem(
        `G85 is "${audit.g85.written ?? ''}" but the transaction set computes to ${audit.g85.computed}`,
      );
  }
  const end = seIndex >= 0 ? seIndex : lines.length - 1;
  let counted = 0;
  let loops = 0;
  for (let i = stIndex; i <= end; i++) {
    if (lines[i]!.id === 'DXE') continue;
    if (LOOP_MARKERS.has(lines[i]!.id)) loops++;
    else counted++;
  }
  audit.segmentCount.counted = counted;
  if (seIndex < 0) problem('no SE segment: the audit ends before its transaction set does (truncated?)');
  else {
    const w = audit.segmentCount.written;
    // Some machines count the LS/LE loop markers too; either count is accepted.
    audit.segmentCount.ok = w === counted || w === counted + loops;
    if (!audit.segmentCount.ok)
      problem(`SE says ${w ?? '(nothing)'} segments but the transaction set has ${counted}`);
  }
  if (!dxe) problem('no DXE segment: the audit ends early (truncated?)');
  return audit;
}

function eventOf(l: Line, int: (l: Line, i: number) => number | undefined): AuditEvent {
  const e: AuditEvent = { segment: l.id, fields: l.el };
  if (l.id === 'EA1') {
    Object.assign(
      e,
      compact({ eventId: l.el[0] || undefined, date: l.el[1] || undefined, time: l.el[2] || undefined }),
    );
  } else if (l.id === 'EA2') {
    Object.assign(
      e,
      compact({
        eventId: l.el[0] || undefined,
        countSinceReset: int(l, 1),
        countSinceInit: int(l, 2),
        active: l.el[4] === undefined || l.el[4] === '' ? undefined : l.el[4] === '1',
      }),
    );
  }
  return e;
}

/** Drops the keys whose value is undefined, so an absent field stays absent (exactOptionalPropertyTypes). */
function compact<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}
