import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { excerpt } from './excerpt.ts';

describe('an excerpt of a value from the wire', () => {
  it('is the value itself when it fits', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), (s) => {
        expect(excerpt(s, 64)).toBe(s);
      }),
    );
  });

  it('never exceeds its bound, starts with the value and says how long the value was', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', minLength: 1, maxLength: 3000 }),
        fc.integer({ min: 24, max: 512 }),
        (s, max) => {
          const e = excerpt(s, max);
          expect(e.length).toBeLessThanOrEqual(max);
          if (s.length <= max) return;
          const head = e.slice(0, e.indexOf(`...(${s.length} chars)`));
          expect(s.startsWith(head)).toBe(true);
          expect(e.endsWith(`...(${s.length} chars)`)).toBe(true);
        },
      ),
    );
  });

  it('does not cut a surrogate pair in half', () => {
    const s = `${'a'.repeat(9)}${'😀'.repeat(100)}`;
    for (let max = 20; max < 60; max++) {
      expect(excerpt(s, max)).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    }
  });

  it('keeps a 60 KB topic to a few hundred characters', () => {
    const topic = `vendgate/v1/gw1/cmd/${'x'.repeat(60 * 1024)}`;
    const e = excerpt(topic, 256);
    expect(e.length).toBeLessThanOrEqual(256);
    expect(e.startsWith('vendgate/v1/gw1/cmd/xxx')).toBe(true);
    expect(e).toContain(`(${topic.length} chars)`);
  });
});
