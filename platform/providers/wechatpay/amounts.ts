/**
 * Exact amount conversion between the port's Money (integer minor units) and
 * WeChat Pay's two spellings of an amount:
 *
 * - the APIs speak integer minor units already ("订单总金额，单位为分";
 *   WeChat Pay Global, Parameter Specifications §2 "Transaction amount": "the
 *   payment amount in foreign currency is accurate to the minimum unit of the
 *   currency, and the parameter value cannot contain a decimal point");
 * - the bills speak decimal major units ("对账单中涉及金额的字段单位为元";
 *   Global: "the currency unit used in the reconciliation form is bid
 *   currency unit"), which are parsed here by string arithmetic, never floats.
 *
 * Exchange rates (Global `amount.exchange_rate.rate`) are integers scaled by
 * 10^8 (Query Exchange Rate API: "外币兑换RMB的比例乘以10的8次方即为此值,
 * 例如美元兑换人民币的比例为6.5, 则rate=650000000").
 */
import { ErrorCode, VendgateError } from '../../../core/errors.ts';

/**
 * ISO 4217 minor-unit exponents that differ from 2, for the currencies WeChat
 * Pay Global lists (Parameter Specifications §4 "Currency type") and a few
 * neighbours. Everything else has two decimals.
 */
const EXPONENTS: Readonly<Record<string, number>> = {
  JPY: 0,
  KRW: 0,
  ISK: 0,
  CLP: 0,
  VND: 0,
  UGX: 0,
  XAF: 0,
  XOF: 0,
  PYG: 0,
  BHD: 3,
  KWD: 3,
  JOD: 3,
  OMR: 3,
  TND: 3,
  IQD: 3,
  LYD: 3,
};

/** How many decimals the currency's minor unit has (ISO 4217). */
export function currencyExponent(currency: string): number {
  return EXPONENTS[currency] ?? 2;
}

const DECIMAL = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/;

/**
 * Parses a non-negative decimal string in major units ("3.50", "0.01", "350"
 * for JPY) into integer minor units of `currency`. More fraction digits than
 * the currency has are accepted only when they are zeros ("0.010" is 1 fen,
 * "0.015" is an error): a bill never rounds.
 */
export function parseMajorUnits(text: string, currency: string, where: string): number {
  const m = DECIMAL.exec(text);
  if (!m) {
    throw new VendgateError(
      ErrorCode.ProviderAmountInvalid,
      `${where}: "${text}" is not a non-negative decimal amount`,
      { where },
    );
  }
  const exp = currencyExponent(currency);
  const whole = m[1]!;
  let frac = m[2] ?? '';
  if (frac.length > exp) {
    if (!/^0*$/.test(frac.slice(exp))) {
      throw new VendgateError(
        ErrorCode.ProviderAmountInvalid,
        `${where}: "${text}" has more than ${exp} decimals for ${currency}`,
        { where, currency },
      );
    }
    frac = frac.slice(0, exp);
  }
  const minor = BigInt(whole) * 10n ** BigInt(exp) + BigInt(frac.padEnd(exp, '0') || '0');
  if (minor > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new VendgateError(ErrorCode.ProviderAmountInvalid, `${where}: "${text}" is too large`, { where });
  }
  return Number(minor);
}

/** Formats integer minor units as the decimal major-unit string a bill uses ("3.50"). */
export function formatMajorUnits(minor: number, currency: string): string {
  if (!Number.isSafeInteger(minor) || minor < 0) {
    throw new VendgateError(ErrorCode.ProviderAmountInvalid, `amount ${minor} is not a non-negative integer`);
  }
  const exp = currencyExponent(currency);
  if (exp === 0) return String(minor);
  const s = String(minor).padStart(exp + 1, '0');
  return `${s.slice(0, -exp)}.${s.slice(-exp)}`;
}

/**
 * An integer minor-unit amount from a WeChat JSON field: a safe,
 * non-negative integer, nothing else (no "350", no 3.5).
 */
export function minorUnitsField(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new VendgateError(
      ErrorCode.ProviderAmountInvalid,
      `${where} is not a non-negative integer amount in minor units`,
      { where },
    );
  }
  return value;
}

/** A 10^8-scaled integer exchange rate as an exact decimal string (650000000 -> "6.5"). */
export function scaledRateToDecimal(rate: number, where: string): string {
  if (!Number.isSafeInteger(rate) || rate <= 0) {
    throw new VendgateError(ErrorCode.ProviderAmountInvalid, `${where} is not a positive integer rate`, {
      where,
    });
  }
  const s = String(rate).padStart(9, '0');
  const whole = s.slice(0, -8).replace(/^0+(?=\d)/, '');
  const frac = s.slice(-8).replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : whole;
}
