import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock, toMonoDeadline } from './clock.ts';

describe('clocks', () => {
  it('a monotonic deadline taken from a wall deadline does not move when the wall clock is stepped', () => {
    const clock = new ManualClock(1_000_000);
    const deadline = toMonoDeadline(clock, 1_060_000);
    clock.setWall(1_000_000 - 300_000); // five minutes back, as after a boot without RTC
    clock.advance(59_999);
    expect(clock.monoMs() < deadline).toBe(true);
    clock.advance(1);
    expect(clock.monoMs()).toBe(deadline);
  });

  it('whatever the wall clock does, the monotonic clock never goes back', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.nat(10_000).map((n) => ({ advance: n })),
            fc.integer().map((w) => ({ wall: w })),
          ),
        ),
        (steps) => {
          const clock = new ManualClock();
          let last = clock.monoMs();
          for (const s of steps) {
            if ('advance' in s) clock.advance(s.advance);
            else clock.setWall(s.wall);
            expect(clock.monoMs()).toBeGreaterThanOrEqual(last);
            last = clock.monoMs();
          }
        },
      ),
    );
  });

  it('refuses to move a manual clock backwards', () => {
    expect(() => new ManualClock().advance(-1)).toThrow(RangeError);
  });

  it('the system clock reads the wall clock in Unix ms and a monotonic clock apart from it', () => {
    const before = Date.now();
    const wall = systemClock.wallMs();
    expect(wall).toBeGreaterThanOrEqual(before);
    const a = systemClock.monoMs();
    const b = systemClock.monoMs();
    expect(b).toBeGreaterThanOrEqual(a);
  });
});
