/**
 * The audit's currency (ID4, EVA-DTS 6.x data dictionary): ID403 is the
 * ISO 4217 alphabetic code, ID402 the numeric one (machines write it with a
 * leading "1" or "0" flag digit, e.g. "1978" for EUR). Amounts are integers
 * with ID401 decimal places; vendgate keeps them in the currency's minor
 * units, so the two scales are converted here.
 */
import { ErrorCode, VendgateError } from '../../../core/errors.ts';

const NUMERIC: Readonly<Record<string, string>> = {
  '156': 'CNY',
  '344': 'HKD',
  '446': 'MOP',
  '901': 'TWD',
  '392': 'JPY',
  '410': 'KRW',
  '702': 'SGD',
  '458': 'MYR',
  '764': 'THB',
  '360': 'IDR',
  '608': 'PHP',
  '704': 'VND',
  '356': 'INR',
  '978': 'EUR',
  '840': 'USD',
  '826': 'GBP',
  '756': 'CHF',
  '752': 'SEK',
  '578': 'NOK',
  '208': 'DKK',
  '985': 'PLN',
  '203': 'CZK',
  '348': 'HUF',
  '949': 'TRY',
  '036': 'AUD',
  '554': 'NZD',
  '124': 'CAD',
  '484': 'MXN',
  '986': 'BRL',
  '710': 'ZAR',
};

/** The alphabetic code of an ID402 numeric code, if it is one vendgate knows. */
export function currencyFromNumeric(code: string): string | undefined {
  const digits = code.trim();
  if (!/^\d{3,4}$/.test(digits)) return undefined;
  return NUMERIC[digits.slice(-3)];
}

/** The number of minor-unit digits of an ISO 4217 code (2 for CNY, 0 for JPY), or undefined for an unknown code. */
export function minorDigits(currency: string): number | undefined {
  if (!/^[A-Z]{3}$/.test(currency)) return undefined;
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions()
      .maximumFractionDigits;
  } catch {
    return undefined;
  }
}

/**
 * An audit amount (an integer with `decimalPlaces`) in minor units of a
 * currency with `minor` digits; undefined when it cannot be said exactly
 * (an audit with more decimals than the currency has, and a remainder).
 */
export function toMinorUnits(amount: number, decimalPlaces: number, minor: number): number | undefined {
  if (decimalPlaces === minor) return amount;
  if (decimalPlaces < minor) {
    const v = amount * 10 ** (minor - decimalPlaces);
    return Number.isSafeInteger(v) ? v : undefined;
  }
  const f = 10 ** (decimalPlaces - minor);
  return amount % f === 0 ? amount / f : undefined;
}

/** The inverse, for the writer: minor units to an audit amount with `decimalPlaces`. */
export function fromMinorUnits(minorAmount: number, decimalPlaces: number, minor: number): number {
  if (decimalPlaces >= minor) return minorAmount * 10 ** (decimalPlaces - minor);
  const f = 10 ** (minor - decimalPlaces);
  if (minorAmount % f !== 0)
    throw new VendgateError(
      ErrorCode.DexAuditInvalid,
      `${minorAmount} minor units cannot be written with ${decimalPlaces} decimal places`,
    );
  return minorAmount / f;
}
