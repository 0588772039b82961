import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PresenceTracker, presenceRules } from './presence.ts';

describe('beacon presence', () => {
  it('is found on the K-th sighting within the window, and not before', () => {
    const p = new PresenceTracker(presenceRules({ foundAfterSightings: 3, foundWithinMs: 2000 }));
    const found = [0, 3000, 3500, 4000, 4100].map((at) => {
      p.record(at);
      return p.arrive(at);
    });
    expect(found).toEqual([false, false, false, true, false]);
    expect(p.present).toBe(true);
    expect(p.sightings).toBe(5);
    expect(p.firstSeenAt).toBe(0);
    expect(p.lastSeenAt).toBe(4100);
  });

  it('is overdue only when present and silent for longer than lostAfterMs, and lost reports the silence', () => {
    const p = new PresenceTracker(presenceRules({ foundAfterSightings: 1, lostAfterMs: 10_000 }));
    expect(p.overdue(1_000_000)).toBe(false); // never seen
    p.record(100);
    p.arrive(100);
    expect(p.overdue(10_100)).toBe(false);
    expect(p.overdue(10_101)).toBe(true);
    expect(p.lose(10_101)).toBe(10_001);
    expect(p.present).toBe(false);
    expect(p.overdue(50_000)).toBe(false);
  });

  it('starts the hysteresis afresh after being lost', () => {
    const p = new PresenceTracker(presenceRules({ foundAfterSightings: 2, foundWithinMs: 5000 }));
    for (const at of [0, 100]) {
      p.record(at);
      p.arrive(at);
    }
    p.lose(20_000);
    p.record(20_000);
    expect(p.arrive(20_000)).toBe(false);
    p.record(20_100);
    expect(p.arrive(20_100)).toBe(true);
  });

  it('does not move lastSeenAt back for a report that arrives out of order', () => {
    const p = new PresenceTracker(presenceRules());
    p.record(5000);
    p.record(4000);
    expect(p.lastSeenAt).toBe(5000);
    expect(p.firstSeenAt).toBe(5000);
  });

  it('is never found while fewer than K sightings fall within any window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 6 }),
        fc.integer({ min: 100, max: 10_000 }),
        fc.array(fc.integer({ min: 1, max: 30_000 }), { minLength: 1, maxLength: 60 }),
        (k, withinMs, gaps) => {
          const p = new PresenceTracker(
            presenceRules({ foundAfterSightings: k, foundWithinMs: withinMs, lostAfterMs: 1e12 }),
          );
          let at = 0;
          const times: number[] = [];
          for (const gap of gaps) {
            at += gap;
            times.push(at);
            p.record(at);
            const found = p.arrive(at);
            const inWindow = times.filter((t) => at - t <= withinMs).length;
            if (found) expect(inWindow).toBeGreaterThanOrEqual(k);
            if (!p.present) expect(inWindow).toBeLessThan(k);
            if (found) break;
          }
        },
      ),
    );
  });

  it('refuses rules that could never find or never lose a beacon, naming the option', () => {
    expect(() => presenceRules({ foundAfterSightings: 0 })).toThrow(/foundAfterSightings must be >= 1/);
    expect(() => presenceRules({ foundAfterSightings: 1.5 })).toThrow(/foundAfterSightings/);
    expect(() => presenceRules({ lostAfterMs: 0 })).toThrow(/lostAfterMs must be positive/);
    expect(() => presenceRules({ lostAfterMs: Number.NaN })).toThrow(/lostAfterMs/);
  });
});
