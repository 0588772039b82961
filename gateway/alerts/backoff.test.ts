import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { retryDelayMs } from './backoff.ts';

describe('the alert retry backoff', () => {
  it('waits between half and all of the doubling step, never more than maxMs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 10, max: 10_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (attempt, initialMs, extra, r) => {
          const maxMs = initialMs + extra;
          const step = Math.min(maxMs, initialMs * 2 ** (attempt - 1));
          const d = retryDelayMs(attempt, { initialMs, maxMs }, () => r);
          expect(d).toBeGreaterThanOrEqual(Math.floor(step / 2));
          expect(d).toBeLessThanOrEqual(Math.ceil(step));
          expect(d).toBeLessThanOrEqual(maxMs);
        },
      ),
    );
  });

  it('doubles per attempt until the cap', () => {
    const r = { initialMs: 1000, maxMs: 5000 };
    const top = () => 1;
    expect([1, 2, 3, 4, 5].map((a) => retryDelayMs(a, r, top))).toEqual([1000, 2000, 4000, 5000, 5000]);
  });
});
