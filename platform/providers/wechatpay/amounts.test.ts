import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../core/errors.ts';
import { expectVendgateError } from '../../../testing/index.ts';
import {
  currencyExponent,
  formatMajorUnits,
  minorUnitsField,
  parseMajorUnits,
  scaledRateToDecimal,
} from './amounts.ts';

describe('WeChat Pay amounts', () => {
  it('parses the bill amounts of the documented examples exactly', () => {
    // 交易账单详细说明 §2.1: amounts in yuan, e.g. `0.01 and the summary `0.06.
    expect(parseMajorUnits('0.01', 'CNY', 't')).toBe(1);
    expect(parseMajorUnits('0.06', 'CNY', 't')).toBe(6);
    expect(parseMajorUnits('3.50', 'CNY', 't')).toBe(350);
    expect(parseMajorUnits('0.0', 'CNY', 't')).toBe(0);
    expect(parseMajorUnits('12', 'CNY', 't')).toBe(1200);
    expect(parseMajorUnits('350', 'JPY', 't')).toBe(350);
    expect(parseMajorUnits('1.250', 'KWD', 't')).toBe(1250);
    expect(parseMajorUnits('0.010', 'CNY', 't')).toBe(1);
  });

  it('refuses amounts it cannot convert exactly, naming where they came from', async () => {
    for (const bad of ['', '-1.00', '1,00', '1.', '.5', '01.00', '1e3', '0.015', ' 1.00', 'NaN']) {
      const err = await expectVendgateError(
        () => parseMajorUnits(bad, 'CNY', '订单金额'),
        ErrorCode.ProviderAmountInvalid,
      );
      expect(err.message).toContain('订单金额');
    }
    await expectVendgateError(() => parseMajorUnits('3.5', 'JPY', 'x'), ErrorCode.ProviderAmountInvalid);
    await expectVendgateError(
      () => parseMajorUnits('99999999999999999', 'CNY', 'x'),
      ErrorCode.ProviderAmountInvalid,
    );
  });

  it('formats minor units as the decimal strings a bill carries', () => {
    expect(formatMajorUnits(1, 'CNY')).toBe('0.01');
    expect(formatMajorUnits(350, 'EUR')).toBe('3.50');
    expect(formatMajorUnits(0, 'CNY')).toBe('0.00');
    expect(formatMajorUnits(350, 'JPY')).toBe('350');
    expect(formatMajorUnits(1250, 'BHD')).toBe('1.250');
  });

  it('round-trips every amount in every exponent (property)', () => {
    const currencies = ['CNY', 'EUR', 'JPY', 'KWD', 'USD', 'HKD'];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.constantFrom(...currencies),
        (n, c) => {
          expect(parseMajorUnits(formatMajorUnits(n, c), c, 'p')).toBe(n);
        },
      ),
    );
  });

  it('never accepts a string with a non-digit character (property)', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        let value: number | undefined;
        try {
          value = parseMajorUnits(s, 'CNY', 'p');
        } catch {}
        if (value !== undefined) expect(s).toMatch(/^[0-9]+(\.[0-9]+)?$/);
      }),
    );
  });

  it('knows the minor-unit exponents of the Global currencies', () => {
    expect(currencyExponent('CNY')).toBe(2);
    expect(currencyExponent('EUR')).toBe(2);
    expect(currencyExponent('JPY')).toBe(0);
    expect(currencyExponent('KRW')).toBe(0);
  });

  it('accepts only non-negative safe integers as JSON minor units', async () => {
    expect(minorUnitsField(100, 'amount.total')).toBe(100);
    for (const bad of [3.5, -1, '100', null, undefined, Number.MAX_SAFE_INTEGER + 1]) {
      await expectVendgateError(() => minorUnitsField(bad, 'amount.total'), ErrorCode.ProviderAmountInvalid);
    }
  });

  it('turns a 10^8-scaled rate into an exact decimal (the documented 6.5 = 650000000)', () => {
    // Query Exchange Rate API: "美元兑换人民币的比例为6.5, 则rate=650000000".
    expect(scaledRateToDecimal(650000000, 'r')).toBe('6.5');
    expect(scaledRateToDecimal(100000000, 'r')).toBe('1');
    expect(scaledRateToDecimal(785312345, 'r')).toBe('7.85312345');
    expect(scaledRateToDecimal(1, 'r')).toBe('0.00000001');
    expect(scaledRateToDecimal(4800000, 'r')).toBe('0.048');
  });

  it('keeps every digit of a scaled rate (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (rate) => {
        const [whole, frac = ''] = scaledRateToDecimal(rate, 'r').split('.');
        expect(BigInt(whole!) * 100000000n + BigInt(frac.padEnd(8, '0'))).toBe(BigInt(rate));
      }),
    );
  });
});
