import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type DashboardFormat, FORMAT_FUNCTIONS, FORMAT_JS } from './format.ts';

/** The very text the browser runs, evaluated here (Node's Intl is ICU, as Chromium's). */
const f = new Function(`${FORMAT_JS}\nreturn { ${FORMAT_FUNCTIONS.join(', ')} };`)() as DashboardFormat;
const SHANGHAI = 'Asia/Shanghai';
/** 2026-12-01 23:30 UTC is 07:30 on 2 December in Shanghai. */
const LATE_UTC = Date.UTC(2026, 11, 1, 23, 30);

describe('the dashboard formatting helpers', () => {
  it('pick ?lang= first, then the first browser language that matches by language, then the site locale', () => {
    expect(f.pickLocale('de', ['ja'], 'zh-CN')).toBe('de');
    expect(f.pickLocale('xx', ['fr-FR', 'de-AT', 'en'], 'zh-CN')).toBe('de');
    expect(f.pickLocale(null, ['zh-Hans-CN'], 'en')).toBe('zh-CN');
    expect(f.pickLocale(null, ['ja-JP'], 'en')).toBe('ja');
    expect(f.pickLocale(undefined, ['fr', 'ko'], 'ja')).toBe('ja');
    expect(f.pickLocale('EN', [], 'ja')).toBe('en');
  });

  it('always pick one of the four locales, whatever the query and browser say', () => {
    fc.assert(
      fc.property(fc.option(fc.string()), fc.array(fc.string(), { maxLength: 5 }), (q, browser) =>
        ['zh-CN', 'en', 'de', 'ja'].includes(f.pickLocale(q, browser, 'zh-CN')),
      ),
    );
  });

  it('turn minor units into the exact decimal of the currency, without a float in between', () => {
    expect(f.decimalOf(350, 'CNY')).toBe('3.50');
    expect(f.decimalOf(5, 'EUR')).toBe('0.05');
    expect(f.decimalOf(1200, 'JPY')).toBe('1200');
    expect(f.decimalOf(Number.MAX_SAFE_INTEGER, 'CNY')).toBe('90071992547409.91');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.constantFrom('CNY', 'EUR', 'JPY', 'BHD'),
        (n, cur) => {
          const digits = f.decimalOf(n, cur).replace('.', '');
          return BigInt(digits) === BigInt(n);
        },
      ),
    );
  });

  it('format money in the locale with every minor unit kept, CNY, EUR and JPY alike', () => {
    expect(f.fmtMoney({ amount: 350, currency: 'CNY' }, 'zh-CN')).toBe('¥3.50');
    expect(f.fmtMoney({ amount: 350, currency: 'CNY' }, 'en')).toBe('CN¥3.50');
    expect(f.fmtMoney({ amount: 123456, currency: 'EUR' }, 'de')).toBe('1.234,56\u00a0€');
    expect(f.fmtMoney({ amount: 500, currency: 'JPY' }, 'ja')).toBe('￥500');
    expect(f.fmtMoney(null, 'en')).toBe('–');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 ** 15 }), (n) => {
        const shown = f.fmtMoney({ amount: n, currency: 'CNY' }, 'en').replace(/[^0-9]/g, '');
        return BigInt(shown) === BigInt(n);
      }),
    );
  });

  it("show times on the site's 24-hour clock in its time zone, not the browser's", () => {
    expect(f.fmtTime(LATE_UTC, 'en', SHANGHAI)).toBe('07:30');
    expect(f.fmtTime(Date.UTC(2026, 11, 2, 7, 5), 'en', SHANGHAI)).toBe('15:05');
    expect(f.fmtTime(Date.UTC(2026, 11, 2, 7, 5), 'de', 'Europe/Berlin')).toBe('08:05');
    expect(f.fmtTime(Date.UTC(2026, 11, 2, 7, 5), 'ja', SHANGHAI)).toBe('15:05');
    expect(f.fmtTime(undefined, 'en', SHANGHAI)).toBe('–');
  });

  it("name the site's day: past midnight in Shanghai is the next day there while still the previous in UTC", () => {
    expect(f.siteDate(LATE_UTC, SHANGHAI)).toBe('2026-12-02');
    expect(f.siteDate(LATE_UTC, 'UTC')).toBe('2026-12-01');
    expect(f.fmtDateTime(LATE_UTC, 'en', SHANGHAI, LATE_UTC + 60_000)).toBe('07:30');
    expect(f.fmtDateTime(LATE_UTC, 'en', SHANGHAI, LATE_UTC + 86_400_000)).toBe('2 Dec, 07:30');
  });

  it('label a calendar day by its own date, whatever the zone the browser is in', () => {
    expect(f.fmtDay('2026-12-02', 'en')).toBe('Wed 02/12');
    expect(f.fmtDay('2026-12-02', 'de')).toBe('Mi., 2.12.');
    expect(f.fmtDay('2026-12-02', 'zh-CN')).toBe('12/2周三');
    expect(f.fmtDay('not a date', 'en')).toBe('not a date');
  });

  it('fill placeholders and leave an unknown one visible', () => {
    expect(f.fill('{count} sold, {x}', { count: 3 })).toBe('3 sold, {x}');
  });

  it('show tenths of a degree Celsius with one decimal in the locale', () => {
    expect(f.fmtTemperature(45, 'en')).toBe('4.5°C');
    expect(f.fmtTemperature(-12, 'de')).toBe('-1,2 °C');
    expect(f.fmtTemperature(undefined, 'de')).toBe('–');
  });
});
