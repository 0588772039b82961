import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { MESSAGES, providerName, reasonText, screenQrUrl, screenTexts } from './messages.ts';
import { DisplayScreen, KNOWN_REASONS, LOCALES, RenderCommand, SCREEN_KINDS } from './port.ts';

const awaiting = {
  kind: 'awaiting-payment',
  orderId: 'ORD-000042',
  paymentUrl: 'weixin://wxpay/bizpayurl?pr=abc123',
  price: { amount: 350, currency: 'CNY' },
  deadline: 1_790_000_000_000,
  providers: ['wechat', 'alipay'],
  item: { name: 'Oolong Tea', slot: 3 },
} as const;

const samples: DisplayScreen[] = [
  { kind: 'idle', machineName: 'Lobby', staticQrUrl: 'https://vend.example.com/m/1' },
  { ...awaiting, providers: [...awaiting.providers] },
  { kind: 'dispensing', item: { name: 'Cola' } },
  { kind: 'done', item: { name: 'Cola' } },
  { kind: 'failed', refund: { amount: 350, currency: 'CNY' }, reason: 'jammed' },
  { kind: 'out-of-service', reason: 'maintenance' },
  {
    kind: 'choose-on-machine',
    credit: { amount: 500, currency: 'CNY' },
    denied: { name: 'Sandwich', slot: 7 },
  },
];

describe('the display screen schema', () => {
  it('accepts one valid sample of every kind of screen', () => {
    expect(samples.map((s) => s.kind)).toEqual(SCREEN_KINDS);
    for (const s of samples) expect(DisplayScreen.parse(s)).toEqual(s);
  });

  it('refuses unknown kinds, extra fields, decimal amounts, lowercase currencies and no providers', () => {
    const bad: unknown[] = [
      { kind: 'paid', item: { name: 'Cola' } },
      { kind: 'done', item: { name: 'Cola' }, html: '<b>' },
      { ...awaiting, price: { amount: 3.5, currency: 'CNY' } },
      { ...awaiting, price: { amount: 350, currency: 'cny' } },
      { ...awaiting, providers: [] },
      { ...awaiting, paymentUrl: 'not a url' },
      { kind: 'done', item: { name: 'Cola\u0007' } },
      { kind: 'done', item: { name: 'x'.repeat(81) } },
    ];
    for (const b of bad) expect(DisplayScreen.safeParse(b).success, JSON.stringify(b)).toBe(false);
  });

  it('wraps a screen in a render command with a display id, a sequence number and a locale', () => {
    const cmd = { displayId: 'm1', seq: 1, locale: 'ja', at: 1, screen: samples[0] };
    expect(RenderCommand.parse(cmd)).toEqual(cmd);
    expect(RenderCommand.safeParse({ ...cmd, locale: 'fr' }).success).toBe(false);
    expect(RenderCommand.safeParse({ ...cmd, displayId: 'm1/+' }).success).toBe(false);
  });

  it('keeps display error codes in the 9xxx range', () => {
    for (const code of [
      ErrorCode.DisplayScreenInvalid,
      ErrorCode.DisplayCommandInvalid,
      ErrorCode.DisplayQrInvalid,
    ])
      expect(Math.floor(code / 1000)).toBe(9);
  });
});

describe('the display message catalogue', () => {
  it('has every text and every known reason in all four languages', () => {
    const keys = Object.keys(MESSAGES.en).sort();
    for (const locale of LOCALES) {
      expect(Object.keys(MESSAGES[locale]).sort()).toEqual(keys);
      for (const r of KNOWN_REASONS) expect(MESSAGES[locale].reasons[r]).toMatch(/\S/);
    }
  });

  it('formats the price with Intl for the display language and the price currency', () => {
    const price = { amount: 350, currency: 'CNY' };
    expect(screenTexts(samples[1]!, 'zh-CN').amount).toBe('¥3.50');
    expect(screenTexts(samples[1]!, 'en').amount).toBe('CN¥3.50');
    expect(
      screenTexts({ ...samples[1]!, price: { amount: 250, currency: 'EUR' } } as DisplayScreen, 'de').amount,
    ).toBe('2,50\u00a0€');
    expect(
      screenTexts({ ...samples[1]!, price: { amount: 150, currency: 'JPY' } } as DisplayScreen, 'ja').amount,
    ).toBe('￥150');
    expect(screenTexts({ kind: 'failed', refund: price, reason: 'jammed' }, 'en').note).toBe(
      'CN¥3.50 will be refunded to your account.',
    );
  });

  it('names providers as customers know them and shows unknown ones by id', () => {
    expect(providerName('wechat', 'zh-CN')).toBe('微信支付');
    expect(providerName('wechat', 'de')).toBe('WeChat Pay');
    expect(providerName('twint', 'de')).toBe('twint');
  });

  it('translates known reasons and shows free text as it is', () => {
    expect(reasonText('jammed', 'de')).toBe(MESSAGES.de.reasons.jammed);
    expect(reasonText('Call 555-0100', 'ja')).toBe('Call 555-0100');
  });

  it('shows a QR code only on the idle and awaiting-payment screens', () => {
    expect(samples.map((s) => screenQrUrl(s) !== undefined)).toEqual([
      true,
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  it("says on an MDB machine's idle screen where to choose, and shows a pay-first credit, in every locale", () => {
    const idle = { kind: 'idle', machineName: 'Lobby', staticQrUrl: 'https://vend.example.com/m/1' } as const;
    for (const locale of LOCALES) {
      const m = MESSAGES[locale];
      expect(screenTexts({ ...idle, cashless: 'select-then-pay' }, locale).note).toBe(m.idleSelectFirstHint);
      expect(screenTexts({ ...idle, cashless: 'pay-first' }, locale).note).toBe(m.idlePayFirstHint);
      expect(screenTexts(idle, locale).note).toBe(m.idleHint);
      expect(new Set([m.idleHint, m.idleSelectFirstHint, m.idlePayFirstHint]).size).toBe(3);
    }
    const choose = screenTexts({ kind: 'choose-on-machine', credit: { amount: 500, currency: 'CNY' } }, 'en');
    expect(choose).toMatchObject({ title: 'Choose your product on the machine', note: 'Credit CN¥5.00' });
    expect(
      screenTexts(
        { kind: 'choose-on-machine', credit: { amount: 500, currency: 'CNY' }, denied: { name: 'Sandwich' } },
        'zh-CN',
      ).reason,
    ).toBe('Sandwich 超出余额，请另选');
  });
});
