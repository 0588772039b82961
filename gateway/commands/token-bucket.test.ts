import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokenBucket } from './token-bucket.ts';

describe('a token bucket', () => {
  it('never grants more than its burst plus its rate over any span of time', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 100 }),
        fc.array(fc.integer({ min: 0, max: 2000 }), { minLength: 1, maxLength: 300 }),
        (capacity, perSecond, gaps) => {
          let now = 0;
          const bucket = new TokenBucket({ capacity, perSecond, now: () => now });
          const grants: number[] = [];
          for (const gap of gaps) {
            now += gap;
            if (bucket.take()) grants.push(now);
          }
          // Every window [grants[i], grants[j]] holds at most capacity + rate * span grants.
          for (let i = 0; i < grants.length; i++) {
            for (let j = i; j < grants.length; j++) {
              const span = (grants[j]! - grants[i]!) / 1000;
              expect(j - i + 1).toBeLessThanOrEqual(capacity + perSecond * span + 1e-9);
            }
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('grants its whole burst at once, then one token per 1/rate seconds', () => {
    let now = 1000;
    const bucket = new TokenBucket({ capacity: 3, perSecond: 2, now: () => now });
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    expect(bucket.msUntilToken()).toBe(500);
    now += 499;
    expect(bucket.take()).toBe(false);
    now += 1;
    expect(bucket.take()).toBe(true);
  });

  it('gains nothing when the clock steps back', () => {
    let now = 10_000;
    const bucket = new TokenBucket({ capacity: 1, perSecond: 1, now: () => now });
    expect(bucket.take()).toBe(true);
    now = 0;
    expect(bucket.take()).toBe(false);
  });

  it('refuses a capacity below one or a rate of zero, naming both', () => {
    expect(() => new TokenBucket({ capacity: 0, perSecond: 1, now: Date.now })).toThrow(/capacity >= 1/);
    expect(() => new TokenBucket({ capacity: 1, perSecond: 0, now: Date.now })).toThrow(/perSecond > 0/);
  });
});
