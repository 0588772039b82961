import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeForm, encodeForm } from './form.ts';

describe('form encoding', () => {
  it('decodes + as a space and percent escapes as UTF-8', () => {
    expect(decodeForm('subject=%E8%AF%AD%E9%9B%80+500&a=1&empty=&flag')).toEqual({
      ok: true,
      params: { subject: '语雀 500', a: '1', empty: '', flag: '' },
    });
  });

  it('refuses malformed escapes, invalid UTF-8, repeated and empty names', () => {
    expect(decodeForm('a=%E4%B8').ok).toBe(false);
    expect(decodeForm('a=%FF').ok).toBe(false);
    expect(decodeForm('a=%zz').ok).toBe(false);
    expect(decodeForm('total_amount=0.01&total_amount=100.00')).toEqual({
      ok: false,
      reason: 'field "total_amount" appears twice',
    });
    expect(decodeForm('=1').ok).toBe(false);
  });

  it('round-trips any parameters', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1, unit: 'grapheme' }), fc.string({ unit: 'grapheme' })),
        (p) => {
          const decoded = decodeForm(encodeForm(p));
          expect(decoded.ok).toBe(true);
          if (decoded.ok) expect({ ...decoded.params }).toEqual({ ...p });
        },
      ),
    );
  });
});
