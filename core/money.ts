import { z } from 'zod';

/**
 * Money is an integer number of minor units (fen, cents) with an ISO 4217
 * alphabetic currency code. Never a float.
 */
export const CurrencyCode = z
  .string()
  .regex(/^[A-Z]{3}$/, 'an ISO 4217 alphabetic currency code such as "CNY" or "EUR"');

export const MinorUnits = z
  .number()
  .int('an integer number of minor units (e.g. fen), not a decimal')
  .nonnegative()
  .max(Number.MAX_SAFE_INTEGER);

export const Money = z.object({ amount: MinorUnits, currency: CurrencyCode }).strict();
export type Money = z.infer<typeof Money>;

export function sameMoney(a: Money, b: Money): boolean {
  return a.amount === b.amount && a.currency === b.currency;
}

/** Formats for a person using Intl (e.g. "¥3.50" for 350 CNY in zh-CN). */
export function formatMoney(m: Money, locale: string): string {
  const fmt = new Intl.NumberFormat(locale, { style: 'currency', currency: m.currency });
  const digits = fmt.resolvedOptions().maximumFractionDigits ?? 2;
  return fmt.format(m.amount / 10 ** digits);
}
