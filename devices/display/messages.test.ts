import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MESSAGES, screenTexts } from './messages.ts';
import { KNOWN_REASONS, LOCALES, type Locale } from './port.ts';

const item = { name: 'Oolong Tea', slot: 3 };

describe('failed screens', () => {
  it('tells a customer whose time ran out before paying that nothing was charged, in every locale', () => {
    for (const locale of LOCALES) {
      for (const reason of ['timeout', 'payment-expired']) {
        const t = screenTexts(
          { kind: 'failed', refund: { amount: 0, currency: 'CNY' }, reason, item },
          locale,
        );
        expect(t.title).toBe(MESSAGES[locale].timedOutTitle);
        expect(t.note).toBe(MESSAGES[locale].nothingCharged);
        expect(t.subtitle).toBe(item.name);
        expect(t.title).not.toBe(MESSAGES[locale].failedTitle);
      }
    }
  });

  it('never announces a refund of zero: a denied, never-paid session says it did not go through and why', () => {
    const t = screenTexts(
      { kind: 'failed', refund: { amount: 0, currency: 'CNY' }, reason: 'empty-slot', item },
      'en',
    );
    expect(t).toEqual({
      title: 'The purchase did not go through',
      subtitle: 'Oolong Tea',
      reason: 'This product is sold out.',
      note: 'Nothing was charged.',
    });
  });

  it('announces the refund with its amount when something was paid', () => {
    const t = screenTexts(
      { kind: 'failed', refund: { amount: 350, currency: 'CNY' }, reason: 'jammed', item },
      'zh-CN',
    );
    expect(t.title).toBe('抱歉，出货失败');
    expect(t.note).toBe('¥3.50 将原路退回您的账户');
  });

  it('says "refunded" exactly when the refund is above zero, for any amount, reason and locale', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.constantFrom(...KNOWN_REASONS, 'Free text from the platform'),
        fc.constantFrom<Locale>(...LOCALES),
        fc.constantFrom('CNY', 'EUR', 'JPY', 'USD'),
        (amount, reason, locale, currency) => {
          const m = MESSAGES[locale];
          const t = screenTexts({ kind: 'failed', refund: { amount, currency }, reason }, locale);
          if (amount > 0) expect(t.note).not.toBe(m.nothingCharged);
          else expect(t.note).toBe(m.nothingCharged);
          expect(t.title.length).toBeGreaterThan(0);
        },
      ),
    );
  });

  it('has every new text in all four locales', () => {
    for (const locale of LOCALES) {
      const m = MESSAGES[locale];
      for (const text of [
        m.timedOutTitle,
        m.notCompletedTitle,
        m.nothingCharged,
        m.unknownDisplayTitle,
        m.unknownDisplayBody,
      ]) {
        expect(text.trim().length).toBeGreaterThan(0);
      }
    }
  });
});
