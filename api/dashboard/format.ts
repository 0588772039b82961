/**
 * The dashboard's formatting helpers, as plain browser JavaScript: the page
 * runs this very text (client.ts puts it first in /dashboard/app.js), and
 * format.test.ts evaluates the same text in Node, whose Intl is the same
 * ICU as Chromium's, so what is tested is what the browser runs. No build
 * step: the functions use nothing but Intl and Date.
 *
 * Times are always shown in the site's time zone (config `timeZone`), not
 * the browser's: an operator looking at a Shanghai site from Berlin sees
 * the site's day and hours. English uses the en-GB conventions (24-hour
 * clock, day before month), as zh-CN, de and ja do.
 */
export const FORMAT_JS = String.raw`
const DASH_LOCALES = ['zh-CN', 'en', 'de', 'ja'];

/** ?lang= when it names a locale, else the first matching browser language (by language: de-AT is de), else the site's. */
function pickLocale(query, browser, site) {
  const match = (tag) => {
    if (typeof tag !== 'string') return undefined;
    const t = tag.trim().toLowerCase();
    const exact = DASH_LOCALES.find((l) => l.toLowerCase() === t);
    if (exact) return exact;
    const lang = t.split(/[-_]/)[0];
    return DASH_LOCALES.find((l) => l.toLowerCase().split('-')[0] === lang);
  };
  return match(query) ?? (browser || []).map(match).find((l) => l !== undefined) ?? site;
}

/** The Intl locale for dates and numbers of a dashboard language. */
function intlLocale(locale) {
  return locale === 'en' ? 'en-GB' : locale;
}

/** Fills {name} placeholders; an unknown one stays as written, so a missing value shows rather than vanishes. */
function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (m, k) => (values && values[k] !== undefined ? String(values[k]) : m));
}

/** The currency's minor-unit digits (ISO 4217 via Intl): 2 for CNY and EUR, 0 for JPY. */
function minorDigits(currency) {
  return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
}

/** Minor units as an exact decimal string ("350" fen -> "3.50"), no float in between. */
function decimalOf(amount, currency) {
  const digits = minorDigits(currency);
  const neg = amount < 0;
  const s = String(Math.abs(Math.trunc(amount))).padStart(digits + 1, '0');
  const whole = digits === 0 ? s : s.slice(0, s.length - digits);
  const frac = digits === 0 ? '' : '.' + s.slice(s.length - digits);
  return (neg ? '-' : '') + whole + frac;
}

/** Money {amount in minor units, currency} for people, e.g. "¥3.50" in zh-CN. Intl formats the decimal string exactly. */
function fmtMoney(money, locale) {
  if (!money || typeof money.amount !== 'number' || typeof money.currency !== 'string') return '–';
  return new Intl.NumberFormat(intlLocale(locale), { style: 'currency', currency: money.currency })
    .format(decimalOf(money.amount, money.currency));
}

/** Minor units as a number of major units, for chart axes only (never for sums). */
function majorUnits(amount, currency) {
  return amount / 10 ** minorDigits(currency);
}

/** HH:MM in the site's time zone (24-hour clock). */
function fmtTime(ms, locale, timeZone) {
  if (typeof ms !== 'number') return '–';
  return new Intl.DateTimeFormat(intlLocale(locale), { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(ms);
}

/** Date and time in the site's time zone; the date only when it is not today there. */
function fmtDateTime(ms, locale, timeZone, nowMs) {
  if (typeof ms !== 'number') return '–';
  if (siteDate(ms, timeZone) === siteDate(nowMs ?? Date.now(), timeZone)) return fmtTime(ms, locale, timeZone);
  return new Intl.DateTimeFormat(intlLocale(locale), {
    timeZone, month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).format(ms);
}

/** The calendar date (YYYY-MM-DD) at an instant in a time zone: the site's "today". */
function siteDate(ms, timeZone) {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(ms);
  const get = (type) => parts.find((p) => p.type === type).value;
  return get('year') + '-' + get('month') + '-' + get('day');
}

/** A calendar day (YYYY-MM-DD, already the site's) as a short label with its weekday; no time zone shift. */
function fmtDay(date, locale) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) return String(date);
  const at = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return new Intl.DateTimeFormat(intlLocale(locale), { timeZone: 'UTC', weekday: 'short', month: 'numeric', day: 'numeric' }).format(at);
}

/** Tenths of a degree Celsius, e.g. 45 -> "4.5 °C". */
function fmtTemperature(deciC, locale) {
  if (typeof deciC !== 'number') return '–';
  return new Intl.NumberFormat(intlLocale(locale), { style: 'unit', unit: 'celsius', minimumFractionDigits: 1, maximumFractionDigits: 1 })
    .format(deciC / 10);
}

function fmtNumber(n, locale) {
  return typeof n === 'number' ? new Intl.NumberFormat(intlLocale(locale)).format(n) : '–';
}
`;

/** What FORMAT_JS defines, for the tests that evaluate it. */
export interface DashboardFormat {
  pickLocale(query: string | null | undefined, browser: readonly string[], site: string): string;
  intlLocale(locale: string): string;
  fill(template: string, values: Record<string, unknown>): string;
  minorDigits(currency: string): number;
  decimalOf(amount: number, currency: string): string;
  fmtMoney(money: { amount: number; currency: string } | null | undefined, locale: string): string;
  majorUnits(amount: number, currency: string): number;
  fmtTime(ms: number | undefined, locale: string, timeZone: string): string;
  fmtDateTime(ms: number | undefined, locale: string, timeZone: string, nowMs?: number): string;
  siteDate(ms: number, timeZone: string): string;
  fmtDay(date: string, locale: string): string;
  fmtTemperature(deciC: number | undefined, locale: string): string;
  fmtNumber(n: number | undefined, locale: string): string;
}

export const FORMAT_FUNCTIONS = [
  'pickLocale',
  'intlLocale',
  'fill',
  'minorDigits',
  'decimalOf',
  'fmtMoney',
  'majorUnits',
  'fmtTime',
  'fmtDateTime',
  'siteDate',
  'fmtDay',
  'fmtTemperature',
  'fmtNumber',
] as const satisfies ReadonlyArray<keyof DashboardFormat>;
