import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, isVendgateError } from '../../../core/errors.ts';
import {
  CURRENCIES,
  type MdbCurrency,
  type MdbMoneyConfig,
  mdbAmountToMinor,
  mdbCurrencyCode,
  minorToMdbAmount,
} from './money.ts';

function refusal(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('expected a refusal');
}

const cfgArb: fc.Arbitrary<MdbMoneyConfig> = fc.record({
  currency: fc.constantFrom(...(Object.keys(CURRENCIES) as MdbCurrency[])),
  scaleFactor: fc.integer({ min: 1, max: 255 }),
  decimalPlaces: fc.integer({ min: 0, max: 4 }),
  priceFormat: fc.constantFrom('scaled' as const, 'decimal' as const),
});

describe('MDB prices and minor units', () => {
  it('writes the MDB currency code as 0x1 and the ISO 4217 numeric code', () => {
    expect(mdbCurrencyCode('CNY')).toBe('0x1156');
    expect(mdbCurrencyCode('EUR')).toBe('0x1978');
    expect(mdbCurrencyCode('JPY')).toBe('0x1392');
  });

  it('converts the common CNY reader (scale 1, 2 decimals) one to one, in both line formats', () => {
    const scaled: MdbMoneyConfig = { currency: 'CNY', scaleFactor: 1, decimalPlaces: 2 };
    expect(mdbAmountToMinor('350', scaled)).toBe(350);
    expect(minorToMdbAmount(350, scaled)).toBe('350');
    const decimal: MdbMoneyConfig = { ...scaled, priceFormat: 'decimal' };
    expect(mdbAmountToMinor('3.50', decimal)).toBe(350);
    expect(mdbAmountToMinor('3.5', decimal)).toBe(350);
    expect(minorToMdbAmount(350, decimal)).toBe('3.50');
    expect(minorToMdbAmount(5, decimal)).toBe('0.05');
  });

  it('applies the scale factor and decimal places exactly', () => {
    // scale 5, 1 decimal: P=7 means 7 * 5 / 10 = 3.5 yuan = 350 fen
    const cfg: MdbMoneyConfig = { currency: 'CNY', scaleFactor: 5, decimalPlaces: 1 };
    expect(mdbAmountToMinor('7', cfg)).toBe(350);
    expect(minorToMdbAmount(350, cfg)).toBe('7');
    // JPY has no minor unit: scale 10, 0 decimals, P=15 is 150 yen
    expect(mdbAmountToMinor('15', { currency: 'JPY', scaleFactor: 10, decimalPlaces: 0 })).toBe(150);
  });

  it('rejects prices that are not a whole number of minor units with a clear error', () => {
    const cfg: MdbMoneyConfig = { currency: 'CNY', scaleFactor: 1, decimalPlaces: 3 };
    const err = refusal(() => mdbAmountToMinor('3505', cfg));
    expect(isVendgateError(err, ErrorCode.CashlessPriceInvalid)).toBe(true);
    expect((err as Error).message).toMatch(/not a whole number of CNY minor units/);
    expect(mdbAmountToMinor('3500', cfg)).toBe(350);
    // 3 fen cannot be approved on a reader that counts in 5-fen units
    expect(() => minorToMdbAmount(3, { currency: 'CNY', scaleFactor: 5, decimalPlaces: 2 })).toThrow(
      /not a whole number of MDB price units/,
    );
    expect(() => mdbAmountToMinor('3.50', { currency: 'CNY', scaleFactor: 1, decimalPlaces: 2 })).toThrow(
      /must be an integer in scaled format/,
    );
    expect(() => minorToMdbAmount(3.5, { currency: 'CNY', scaleFactor: 1, decimalPlaces: 2 })).toThrow(
      /non-negative integer/,
    );
    expect(() => mdbAmountToMinor('abc', { currency: 'CNY', scaleFactor: 1, decimalPlaces: 2 })).toThrow(
      /not a non-negative decimal/,
    );
  });

  it('round-trips every representable amount: minor units -> line -> minor units', () => {
    fc.assert(
      fc.property(cfgArb, fc.integer({ min: 0, max: 1_000_000 }), (cfg, p) => {
        // Build an amount that is representable: from an MDB price integer P.
        const exp = CURRENCIES[cfg.currency].exponent;
        const num = BigInt(p) * BigInt(cfg.scaleFactor) * 10n ** BigInt(exp);
        const den = 10n ** BigInt(cfg.decimalPlaces);
        if (num % den !== 0n) return; // not a whole number of minor units: covered by the rejection test
        const minor = Number(num / den);
        const line = minorToMdbAmount(minor, cfg);
        expect(mdbAmountToMinor(line, cfg)).toBe(minor);
      }),
    );
  });

  it('never returns a fraction: every conversion is an integer or a refusal', () => {
    fc.assert(
      fc.property(
        cfgArb,
        fc.stringMatching(/^\d{1,9}(\.\d{1,4})?$/),
        fc.nat(10_000_000),
        (cfg, raw, minor) => {
          for (const f of [() => mdbAmountToMinor(raw, cfg), () => Number(minorToMdbAmount(minor, cfg))]) {
            try {
              const v = f();
              expect(Number.isFinite(v)).toBe(true);
            } catch (err) {
              expect(isVendgateError(err, ErrorCode.CashlessPriceInvalid)).toBe(true);
            }
          }
          try {
            expect(Number.isInteger(mdbAmountToMinor(raw, cfg))).toBe(true);
          } catch {
            // refused
          }
        },
      ),
    );
  });
});
