import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../core/errors.ts';
import { expectVendgateError } from '../../../testing/index.ts';
import { fenToYuan, MAX_TRADE_FEN, moneyToYuan, signedYuanToFen, yuanToFen } from './amount.ts';

describe('Alipay yuan amounts', () => {
  it('reads the documented forms: "0.01" (the minimum), "3.50", "3.5", "100" and "100000000.00"', () => {
    expect(yuanToFen('0.01', 'x')).toBe(1);
    expect(yuanToFen('3.50', 'x')).toBe(350);
    expect(yuanToFen('3.5', 'x')).toBe(350);
    expect(yuanToFen('100', 'x')).toBe(10_000);
    expect(yuanToFen('100000000.00', 'x')).toBe(MAX_TRADE_FEN);
    expect(yuanToFen('0.10', 'x')).toBe(10); // total_amount of the worked notification example
  });

  it('writes two decimals always', () => {
    expect(fenToYuan(1)).toBe('0.01');
    expect(fenToYuan(350)).toBe('3.50');
    expect(fenToYuan(10_000)).toBe('100.00');
    expect(fenToYuan(0)).toBe('0.00');
  });

  it('refuses what is not a plain yuan amount, naming where', async () => {
    for (const bad of [
      '',
      '3.500',
      '-1',
      '+1',
      '03.50',
      '3.',
      '.5',
      '1e2',
      ' 3.50',
      '3,50',
      '0x10',
      'NaN',
      '3.50\n',
    ]) {
      const err = await expectVendgateError(
        () => yuanToFen(bad, 'total_amount'),
        ErrorCode.AlipayAmountInvalid,
      );
      expect(err.message).toContain('total_amount');
    }
  });

  it('reads signed bill amounts', () => {
    expect(signedYuanToFen('-3000.00', 'x')).toBe(-300_000);
    expect(signedYuanToFen('0.02', 'x')).toBe(2);
    expect(signedYuanToFen('-0.00', 'x')).toBe(0);
  });

  it('round-trips every amount in range exactly (no float on the way)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_TRADE_FEN }), (fen) => {
        expect(yuanToFen(fenToYuan(fen), 'x')).toBe(fen);
      }),
    );
  });

  it('agrees with decimal string arithmetic for any integer and fraction digits', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 99_999_999n }),
        fc.stringMatching(/^[0-9]{0,2}$/),
        (yuan, frac) => {
          const text = frac ? `${yuan}.${frac}` : `${yuan}`;
          expect(yuanToFen(text, 'x')).toBe(Number(yuan * 100n + BigInt(frac.padEnd(2, '0') || '0')));
        },
      ),
    );
  });

  it('turns Money into a yuan string only for CNY within Alipay range', async () => {
    expect(moneyToYuan({ amount: 350, currency: 'CNY' }, 'amount')).toBe('3.50');
    await expectVendgateError(
      () => moneyToYuan({ amount: 350, currency: 'EUR' }, 'amount'),
      ErrorCode.AlipayAmountInvalid,
    );
    await expectVendgateError(
      () => moneyToYuan({ amount: 0, currency: 'CNY' }, 'amount'),
      ErrorCode.AlipayAmountInvalid,
    );
    await expectVendgateError(
      () => moneyToYuan({ amount: MAX_TRADE_FEN + 1, currency: 'CNY' }, 'amount'),
      ErrorCode.AlipayAmountInvalid,
    );
  });
});
