import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { esc, money } from './html.ts';
import { providersForAgent } from './phone.ts';

describe('the phone page', () => {
  it('offers WeChat Pay in the WeChat browser, Alipay in Alipay, and both elsewhere', () => {
    const both = ['wechat', 'alipay'] as const;
    const wechatUa =
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI';
    const alipayUa = 'Mozilla/5.0 (Linux; U; Android 14) AlipayClient/10.5.36.8000 Language/zh-Hans';
    expect(providersForAgent(wechatUa, [...both])).toEqual(['wechat']);
    expect(providersForAgent(alipayUa, [...both])).toEqual(['alipay']);
    expect(providersForAgent('Mozilla/5.0 (X11; Linux x86_64) Chrome/120', [...both])).toEqual([
      'wechat',
      'alipay',
    ]);
    expect(providersForAgent(undefined, [...both])).toEqual(['wechat', 'alipay']);
    // A WeChat browser on a platform without WeChat Pay still gets what there is.
    expect(providersForAgent(wechatUa, ['alipay'])).toEqual(['alipay']);
  });

  it('shows minor units with the currency digits, exactly (property)', () => {
    expect(money({ amount: 350, currency: 'CNY' })).toBe('CNY 3.50');
    expect(money({ amount: 5, currency: 'CNY' })).toBe('CNY 0.05');
    expect(money({ amount: 1200, currency: 'JPY' })).toBe('JPY 1200');
    expect(money({ amount: 1234, currency: 'KWD' })).toBe('KWD 1.234');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (amount) => {
        const [, digits] = money({ amount, currency: 'CNY' }).split(' ');
        expect(BigInt(digits!.replace('.', ''))).toBe(BigInt(amount));
      }),
    );
  });

  it('escapes what it puts into a page (property)', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        expect(esc(s)).not.toMatch(/[<>"']/);
      }),
    );
  });
});
