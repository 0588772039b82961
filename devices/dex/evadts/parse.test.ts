import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, isVendgateError } from '../../../core/errors.ts';
import { expectVendgateError } from '../../../testing/errors.ts';
import { parseEvaDts } from './parse.ts';
import type { DexAudit } from './types.ts';
import { type AuditToWrite, sealTransactionSet, writeEvaDts } from './write.ts';

const FIXTURES = join(import.meta.dirname, '../../../test/fixtures/dex');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'latin1');

describe('EVA-DTS parser', () => {
  it('reads a snack machine audit: machine, currency, paid vends, cash and every selection', () => {
    const a = parseEvaDts(fixture('snack.dex'));
    expect(a.problems).toEqual([]);
    expect(a.machine).toMatchObject({
      serial: 'SN20240117',
      model: 'SNK-6G',
      location: 'Lobby B1',
      assetNumber: 'A-0101',
    });
    expect(a.currency).toBe('CNY');
    expect(a.decimalPlaces).toBe(2);
    expect(a.paidVends).toEqual({ value: 1_745_000, count: 3812 });
    expect(a.cashSales).toEqual({ value: 1_745_000, count: 3812 });
    expect(a.cashIn).toEqual({
      coinsSinceReset: 128_500,
      billsSinceReset: 41_000,
      coins: 1_745_000,
      bills: 502_000,
    });
    expect(a.cashless).toEqual([]);
    expect(a.selections).toHaveLength(10);
    expect(a.selections[0]).toEqual({
      selection: '11',
      price: 450,
      productId: 'Potato Chips',
      paid: { count: 812, value: 365_400 },
      paidSinceReset: { count: 61, value: 27_450 },
    });
    expect(a.g85.ok).toBe(true);
    expect(a.segmentCount.ok).toBe(true);
  });

  it('reads the cashless device of a can machine and maps a numeric ID402 currency', () => {
    const a = parseEvaDts(fixture('can-cashless.dex'));
    expect(a.problems).toEqual([]);
    expect(a.cashless).toEqual([
      {
        device: 'DA',
        id: { serial: 'CL0000451', model: 'VG-QR1', softwareRevision: '0100' },
        sales: { value: 75_500, count: 215 },
        salesSinceReset: { value: 75_500, count: 215 },
      },
    ]);
    const noAlpha = fixture('can-cashless.dex').replace('ID4*2*1156*CNY', 'ID4*2*1156');
    // The G85 no longer matches the edited text, but the currency still comes from ID402.
    expect(parseEvaDts(noAlpha, { defaultCurrency: 'EUR' }).currency).toBe('CNY');
  });

  it('reads events, keeps and counts unknown segments, and skips LS/LE loops in the segment count', () => {
    const a = parseEvaDts(fixture('cooler-events.dex'));
    expect(a.problems).toEqual([]);
    expect(a.events.filter((e) => e.segment === 'EA1').map((e) => e.eventId)).toEqual(['EGS', 'EJH', 'EJK']);
    expect(a.events.find((e) => e.segment === 'EA2' && e.eventId === 'EJH')).toMatchObject({
      countSinceReset: 1,
      countSinceInit: 3,
      active: true,
    });
    expect(a.unknown.map((u) => u.id)).toEqual(['ID5', 'MA5', 'MA5', 'ZZ1', 'SD1']);
    expect(a.unknownCount).toBe(5);
    expect(a.segmentCount.ok).toBe(true);
  });

  it('flags an audit whose G85 does not match its transaction set', () => {
    const text = fixture('snack.dex').replace('VA1*1745000*3812', 'VA1*1745000*3813');
    const a = parseEvaDts(text);
    expect(a.g85.ok).toBe(false);
    expect(a.problems.join()).toMatch(/G85 is "[0-9A-F]{4}" but the transaction set computes to [0-9A-F]{4}/);
  });

  it('flags a truncated audit: no G85, no SE, no DXE', () => {
    const text = fixture('snack.dex');
    const a = parseEvaDts(text.slice(0, Math.floor(text.length / 2)));
    expect(a.g85.ok).toBeNull();
    expect(a.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/no G85/),
        expect.stringMatching(/no SE/),
        expect.stringMatching(/no DXE/),
      ]),
    );
  });

  it('flags an SE count that disagrees with the segments', () => {
    const text = fixture('snack.dex').replace(/SE\*(\d+)\*/, (_, n) => `SE*${Number(n) + 1}*`);
    expect(parseEvaDts(text).problems.join()).toMatch(/SE says \d+ segments but the transaction set has \d+/);
  });

  it('names the line and element of a number that is not one, and of a PA2 without its PA1', () => {
    const body = ['ID4*2**CNY', 'VA1*12x*3', 'PA2*1*100'];
    const text = ['DXS*X*VA*V1/1*1', ...sealTransactionSet(body)].join('\r\n');
    const a = parseEvaDts(text);
    expect(a.problems).toContain('line 4: VA101 "12x" is not a whole number');
    expect(a.problems).toContain('line 5: PA2 before any PA1 (which selection?)');
    expect(a.paidVends).toEqual({ count: 3 });
  });

  it('scales amounts from the audit decimal places to minor units', () => {
    const text = ['DXS*X*VA*V1/1*1', ...sealTransactionSet(['ID4*1**CNY', 'VA1*125*3'])].join('\r\n');
    expect(parseEvaDts(text).paidVends).toEqual({ value: 1250, count: 3 });
    const yen = ['DXS*X*VA*V1/1*1', ...sealTransactionSet(['ID4*2**JPY', 'VA1*12050*3'])].join('\r\n');
    expect(parseEvaDts(yen).problems.join()).toMatch(/12050 is not a whole number of JPY minor units/);
  });

  it('refuses text that is not an audit with DexAuditInvalid', async () => {
    await expectVendgateError(() => parseEvaDts('hello\r\nworld'), ErrorCode.DexAuditInvalid);
    await expectVendgateError(() => parseEvaDts('DXS*X*VA*V1/1*1\r\nDXE*1*1'), ErrorCode.DexAuditInvalid);
    const err = await expectVendgateError(
      () => parseEvaDts('DXS*X\r\nST*001*0001\r\nID1*\x00'),
      ErrorCode.DexAuditInvalid,
    );
    expect(err.message).toMatch(/0x00 .* on line 3/);
  });

  it('refuses an audit beyond its bounds with DexTooLarge', async () => {
    await expectVendgateError(
      () => parseEvaDts('DXS*X\r\n'.repeat(10), { maxSegments: 5 }),
      ErrorCode.DexTooLarge,
    );
    await expectVendgateError(() => parseEvaDts(`DXS*${'x'.repeat(300)}`), ErrorCode.DexTooLarge);
    await expectVendgateError(() => parseEvaDts('x'.repeat(2000), { maxChars: 1000 }), ErrorCode.DexTooLarge);
  });

  it('never throws anything but a VendgateError on random text', () => {
    const alphabet = fc.constantFrom(...'DXSTIDVAPCBEGS0123456789*\r\n \x00\x7f'.split(''));
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: alphabet, maxLength: 400 }), fc.string({ maxLength: 400 })),
        (junk) => {
          for (const text of [junk, `DXS*X\r\nST*001*1\r\n${junk}`]) {
            try {
              const a = parseEvaDts(text);
              expect(Array.isArray(a.problems)).toBe(true);
            } catch (err) {
              expect(isVendgateError(err)).toBe(true);
            }
          }
        },
      ),
    );
  });

  it('reads back what the writer wrote, for any audit, with its G85 and SE checked', () => {
    const vc = fc.record({ value: fc.nat({ max: 10_000_000 }), count: fc.nat({ max: 100_000 }) });
    const id = fc.stringMatching(/^[A-Z0-9-]{1,16}$/);
    const audit = fc.record({
      serial: id,
      currency: fc.constantFrom('CNY', 'EUR', 'USD'),
      paidVends: vc,
      paidVendsSinceReset: vc,
      cashSales: vc,
      cashSalesSinceReset: vc,
      cashless: vc,
      selections: fc.uniqueArray(
        fc.record({
          selection: fc.stringMatching(/^[0-9]{1,3}$/),
          price: fc.nat({ max: 5000 }),
          paid: vc,
          paidSinceReset: vc,
        }),
        { selector: (s) => s.selection, maxLength: 30 },
      ),
      unknown: fc.array(fc.stringMatching(/^ZZ[0-9]\*[A-Z0-9]{0,8}$/), { maxLength: 4 }),
    });
    fc.assert(
      fc.property(audit, (g) => {
        const input: AuditToWrite = {
          header: { communicationId: 'VGTEST0001' },
          machine: { serial: g.serial },
          decimalPlaces: 2,
          currency: g.currency,
          paidVends: g.paidVends,
          paidVendsSinceReset: g.paidVendsSinceReset,
          testVends: {},
          freeVends: {},
          coinMech: {},
          cashSales: g.cashSales,
          cashSalesSinceReset: g.cashSalesSinceReset,
          cashIn: {},
          cashDispensed: {},
          billValidator: {},
          cashless: [{ device: 'DA', id: {}, sales: g.cashless, salesSinceReset: g.cashless }],
          selections: g.selections,
          events: [{ segment: 'EA2', eventId: 'EGS', countSinceReset: 1, countSinceInit: 2, fields: [] }],
          extra: g.unknown,
        };
        const a: DexAudit = parseEvaDts(writeEvaDts(input));
        expect(a.problems).toEqual([]);
        expect(a.g85.ok).toBe(true);
        expect(a.segmentCount.ok).toBe(true);
        expect(a.machine.serial).toBe(g.serial);
        expect(a.currency).toBe(g.currency);
        expect(a.paidVends).toEqual(g.paidVends);
        expect(a.cashSales).toEqual(g.cashSales);
        expect(a.cashless[0]?.sales).toEqual(g.cashless);
        expect(a.selections).toEqual(g.selections.map((s) => ({ ...s })));
        expect(a.unknownCount).toBe(g.unknown.length);
      }),
    );
  });
});
