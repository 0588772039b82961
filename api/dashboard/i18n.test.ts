import { describe, expect, it } from 'vitest';
import { DASHBOARD_LOCALES, DASHBOARD_MESSAGES } from './i18n.ts';

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('the dashboard text tables', () => {
  const keys = Object.keys(DASHBOARD_MESSAGES.en).sort();

  it.each(DASHBOARD_LOCALES)('%s has every key, each with a text', (locale) => {
    const table = DASHBOARD_MESSAGES[locale];
    expect(Object.keys(table).sort()).toEqual(keys);
    for (const k of keys) expect(table[k as keyof typeof table].trim(), `${locale} ${k}`).not.toBe('');
  });

  it.each(DASHBOARD_LOCALES)('%s uses the same placeholders as English in every text', (locale) => {
    const table = DASHBOARD_MESSAGES[locale];
    for (const k of keys) {
      const key = k as keyof typeof table;
      expect(placeholders(table[key]), `${locale} ${k}`).toEqual(placeholders(DASHBOARD_MESSAGES.en[key]));
    }
  });

  it('has a name for every condition kind the board raises, every order state and every scanner state', async () => {
    const { CONDITION_KINDS } = await import('../../gateway/conditions/conditions.ts');
    const { OrderState } = await import('../../contract/events.ts');
    for (const kind of CONDITION_KINDS) expect(Object.keys(DASHBOARD_MESSAGES.en)).toContain(`kind.${kind}`);
    for (const state of OrderState.options)
      expect(Object.keys(DASHBOARD_MESSAGES.en)).toContain(`state.${state}`);
  });
});
