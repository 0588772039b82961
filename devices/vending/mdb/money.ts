/**
 * Exact conversion between MDB prices and integer minor units
 * (docs/protocols/mdb-adapter.md section 6). No floating point: amounts are
 * parsed as decimal strings into BigInt and a conversion that would need a
 * fraction of a minor unit (or of an MDB price unit) is refused.
 *
 * MDB (reader config, SETUP): a price on the bus is an integer P; its value
 * in the currency's major unit is P * scaleFactor / 10^decimalPlaces.
 */
import { ErrorCode, VendgateError } from '../../../core/errors.ts';

/** ISO 4217 numeric code and minor-unit exponent for the currencies we configure readers with. */
export const CURRENCIES = {
  CNY: { numeric: 156, exponent: 2 },
  HKD: { numeric: 344, exponent: 2 },
  TWD: { numeric: 901, exponent: 2 },
  JPY: { numeric: 392, exponent: 0 },
  KRW: { numeric: 410, exponent: 0 },
  SGD: { numeric: 702, exponent: 2 },
  USD: { numeric: 840, exponent: 2 },
  EUR: { numeric: 978, exponent: 2 },
  GBP: { numeric: 826, exponent: 2 },
  CHF: { numeric: 756, exponent: 2 },
} as const;
export type MdbCurrency = keyof typeof CURRENCIES;

/**
 * How the adapter prints amounts on the line:
 * - `scaled`: the MDB price integer P itself (`c,STATUS,VEND,350,3` with scale 1, 2 decimals = 3.50);
 * - `decimal`: the value in major units with `decimalPlaces` decimals, as Qibixx firmware shows it (`3.50`).
 */
export type PriceFormat = 'scaled' | 'decimal';

export interface MdbMoneyConfig {
  currency: MdbCurrency;
  /** MDB scale factor, 1..255. */
  scaleFactor: number;
  /** MDB decimal places, 0..6 (0..3 in practice). */
  decimalPlaces: number;
  priceFormat?: PriceFormat;
}

function invalid(message: string, context: Record<string, unknown>): VendgateError {
  return new VendgateError(ErrorCode.CashlessPriceInvalid, message, context);
}

/** Validates a money config; throws VendgateError CashlessPriceInvalid with the reason. */
export function checkMoneyConfig(cfg: MdbMoneyConfig): void {
  if (!(cfg.currency in CURRENCIES))
    throw invalid(`unsupported currency "${cfg.currency}"`, { currency: cfg.currency });
  if (!Number.isInteger(cfg.scaleFactor) || cfg.scaleFactor < 1 || cfg.scaleFactor > 255)
    throw invalid('scaleFactor must be an integer 1..255', { scaleFactor: cfg.scaleFactor });
  if (!Number.isInteger(cfg.decimalPlaces) || cfg.decimalPlaces < 0 || cfg.decimalPlaces > 6)
    throw invalid('decimalPlaces must be an integer 0..6', { decimalPlaces: cfg.decimalPlaces });
}

/** The MDB country/currency code: `0x1` followed by the ISO 4217 numeric code, e.g. `0x1156` for CNY. */
export function mdbCurrencyCode(currency: MdbCurrency): string {
  const c = CURRENCIES[currency];
  if (!c) throw invalid(`unsupported currency "${currency}"`, { currency });
  return `0x1${String(c.numeric).padStart(3, '0')}`;
}

/** Parses `"3.50"` into 350n / 10^2 exactly. Null if not a plain non-negative decimal. */
function parseDecimal(s: string): { units: bigint; exp: number } | null {
  const m = /^(\d{1,15})(?:\.(\d{1,9}))?$/.exec(s);
  if (!m) return null;
  const frac = m[2] ?? '';
  return { units: BigInt(m[1]! + frac), exp: frac.length };
}

const TEN = 10n;
function pow10(n: number): bigint {
  return TEN ** BigInt(n);
}

function toSafeNumber(v: bigint, what: string, context: Record<string, unknown>): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`${what} too large`, context);
  return Number(v);
}

/**
 * An amount as printed by the adapter (`raw`) -> integer minor units of the
 * configured currency. Throws VendgateError CashlessPriceInvalid when the
 * text is not a number in the configured format or the value is not a whole
 * number of minor units.
 */
export function mdbAmountToMinor(raw: string, cfg: MdbMoneyConfig): number {
  const format = cfg.priceFormat ?? 'scaled';
  const ctx = { raw, format, ...cfg };
  const d = parseDecimal(raw);
  if (!d) throw invalid(`MDB amount "${raw}" is not a non-negative decimal`, ctx);
  const minorExp = CURRENCIES[cfg.currency].exponent;
  // value in major units = num / den
  let num: bigint;
  let den: bigint;
  if (format === 'scaled') {
    if (d.exp !== 0) throw invalid(`MDB amount "${raw}" must be an integer in scaled format`, ctx);
    num = d.units * BigInt(cfg.scaleFactor);
    den = pow10(cfg.decimalPlaces);
  } else {
    num = d.units;
    den = pow10(d.exp);
    // The value must be a whole number of MDB price units: value * 10^dp / scale integral.
    const p = num * pow10(cfg.decimalPlaces);
    const q = den * BigInt(cfg.scaleFactor);
    if (p % q !== 0n)
      throw invalid(
        `MDB amount "${raw}" is not a multiple of the reader's price unit (scale ${cfg.scaleFactor}, ${cfg.decimalPlaces} decimals)`,
        ctx,
      );
  }
  const minorNum = num * pow10(minorExp);
  if (minorNum % den !== 0n)
    throw invalid(
      `MDB amount "${raw}" is not a whole number of ${cfg.currency} minor units (scale ${cfg.scaleFactor}, ${cfg.decimalPlaces} decimals)`,
      ctx,
    );
  return toSafeNumber(minorNum / den, 'MDB amount', ctx);
}

/**
 * Integer minor units -> the amount text the adapter expects in `C,VEND`.
 * Throws VendgateError CashlessPriceInvalid when the amount is not a
 * non-negative integer or not a whole number of MDB price units.
 */
export function minorToMdbAmount(amount: number, cfg: MdbMoneyConfig): string {
  const format = cfg.priceFormat ?? 'scaled';
  const ctx = { amount, format, ...cfg };
  if (!Number.isSafeInteger(amount) || amount < 0)
    throw invalid(`amount must be a non-negative integer number of minor units, got ${amount}`, ctx);
  const minorExp = CURRENCIES[cfg.currency].exponent;
  // P = amount / 10^minorExp * 10^dp / scale
  const num = BigInt(amount) * pow10(cfg.decimalPlaces);
  const den = pow10(minorExp) * BigInt(cfg.scaleFactor);
  if (num % den !== 0n)
    throw invalid(
      `${amount} ${cfg.currency} minor units is not a whole number of MDB price units (scale ${cfg.scaleFactor}, ${cfg.decimalPlaces} decimals)`,
      ctx,
    );
  return scaledToLine(toSafeNumber(num / den, 'MDB amount', ctx), cfg);
}

/** An MDB price integer P -> the amount text in the given format (for the simulator). */
export function scaledToLine(
  p: number,
  cfg: Pick<MdbMoneyConfig, 'scaleFactor' | 'decimalPlaces' | 'priceFormat'>,
): string {
  if (!Number.isSafeInteger(p) || p < 0)
    throw new RangeError(`MDB price must be a non-negative integer, got ${p}`);
  if ((cfg.priceFormat ?? 'scaled') === 'scaled') return String(p);
  const v = BigInt(p) * BigInt(cfg.scaleFactor);
  if (cfg.decimalPlaces === 0) return v.toString();
  const s = v.toString().padStart(cfg.decimalPlaces + 1, '0');
  return `${s.slice(0, -cfg.decimalPlaces)}.${s.slice(-cfg.decimalPlaces)}`;
}

/** The amount text (either format) -> the MDB price integer P, or null if not a whole number of units. */
export function lineToScaled(
  raw: string,
  cfg: Pick<MdbMoneyConfig, 'scaleFactor' | 'decimalPlaces' | 'priceFormat'>,
): number | null {
  const d = parseDecimal(raw);
  if (!d) return null;
  if ((cfg.priceFormat ?? 'scaled') === 'scaled') return d.exp === 0 ? Number(d.units) : null;
  const num = d.units * pow10(cfg.decimalPlaces);
  const den = pow10(d.exp) * BigInt(cfg.scaleFactor);
  if (num % den !== 0n) return null;
  const p = num / den;
  return p > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(p);
}
