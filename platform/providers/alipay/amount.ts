/**
 * Alipay amounts are decimal strings in yuan with at most two decimals
 * (`total_amount`, `refund_amount`: "单位为元，精确到小数点后两位，取值范围
 * [0.01,100000000]", opendocs.alipay.com/open/02ekfg, alipay.trade.precreate
 * request parameters). The port speaks integer fen; conversion is string
 * arithmetic only, never a float.
 */
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import type { Money } from '../../../core/money.ts';

/** The only currency the open platform's domestic trade APIs settle in. */
export const ALIPAY_CURRENCY = 'CNY';

const YUAN = /^(0|[1-9][0-9]{0,11})(?:\.([0-9]{1,2}))?$/;

/** The largest amount Alipay accepts in one trade: 100,000,000.00 yuan. */
export const MAX_TRADE_FEN = 10_000_000_000;

/** "3.50" -> 350 fen. Throws AlipayAmountInvalid naming `where` on anything else (signs, exponents, 3 decimals). */
export function yuanToFen(text: string, where: string): number {
  const m = YUAN.exec(text);
  if (!m) {
    throw new VendgateError(
      ErrorCode.AlipayAmountInvalid,
      `${where}: "${text.slice(0, 32)}" is not a yuan amount with at most two decimals`,
      { where },
    );
  }
  const fen = BigInt(m[1]!) * 100n + BigInt((m[2] ?? '').padEnd(2, '0'));
  return Number(fen);
}

/** A signed yuan string as bills print them ("-3.50"): the sign and the magnitude in fen. */
export function signedYuanToFen(text: string, where: string): number {
  if (text.startsWith('-')) {
    const fen = yuanToFen(text.slice(1), where);
    return fen === 0 ? 0 : -fen;
  }
  return yuanToFen(text, where);
}

/** 350 fen -> "3.50". */
export function fenToYuan(fen: number): string {
  if (!Number.isSafeInteger(fen) || fen < 0) {
    throw new VendgateError(ErrorCode.AlipayAmountInvalid, `${fen} is not a non-negative integer of fen`, {});
  }
  const f = BigInt(fen);
  return `${f / 100n}.${(f % 100n).toString().padStart(2, '0')}`;
}

/** Money in CNY as Alipay's yuan string; other currencies are refused (the open platform settles CNY). */
export function moneyToYuan(m: Money, where: string): string {
  if (m.currency !== ALIPAY_CURRENCY) {
    throw new VendgateError(
      ErrorCode.AlipayAmountInvalid,
      `${where}: Alipay trades are in ${ALIPAY_CURRENCY}, not ${m.currency}`,
      { where, currency: m.currency },
    );
  }
  if (m.amount < 1 || m.amount > MAX_TRADE_FEN) {
    throw new VendgateError(
      ErrorCode.AlipayAmountInvalid,
      `${where}: ${m.amount} fen is outside Alipay's range 0.01..100000000.00 yuan`,
      { where, amount: m.amount },
    );
  }
  return fenToYuan(m.amount);
}

export function yuanToMoney(text: string, where: string): Money {
  return { amount: yuanToFen(text, where), currency: ALIPAY_CURRENCY };
}
