import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatBeijing, isCalendarDay, parseBeijing } from './time.ts';

describe('Beijing timestamps', () => {
  it('reads the worked notification example gmt_payment "2019-08-15 15:56:24" as 07:56:24 UTC', () => {
    expect(parseBeijing('2019-08-15 15:56:24')).toBe(Date.UTC(2019, 7, 15, 7, 56, 24));
  });

  it('writes the instant in UTC+8, across the day boundary', () => {
    expect(formatBeijing(Date.UTC(2024, 0, 31, 16, 0, 0))).toBe('2024-02-01 00:00:00');
  });

  it('refuses impossible or differently written times', () => {
    for (const bad of [
      '2024-02-30 00:00:00',
      '2024-13-01 00:00:00',
      '2024-01-01T00:00:00',
      '2024-1-01 00:00:00',
      '',
    ]) {
      expect(parseBeijing(bad)).toBeUndefined();
    }
    expect(isCalendarDay('2024-02-29')).toBe(true);
    expect(isCalendarDay('2023-02-29')).toBe(false);
  });

  it('round-trips any second', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800 }), (s) => {
        expect(parseBeijing(formatBeijing(s * 1000))).toBe(s * 1000);
      }),
    );
  });
});
