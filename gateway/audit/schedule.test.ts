import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DexConfig, everyMs } from './config.ts';
import { nextReadAt, zoneOffsetMs } from './schedule.ts';

const at = (iso: string) => Date.parse(iso);

describe('DEX read schedule', () => {
  it('reads at startAt local time and every interval after it, in the site time zone', () => {
    const every6h = 6 * 3_600_000;
    // 09:30 in Shanghai (01:30 UTC): the next of 02:00, 08:00, 14:00, 20:00 local is 14:00.
    expect(nextReadAt(at('2026-03-02T09:30:00+08:00'), every6h, '02:00', 'Asia/Shanghai')).toBe(
      at('2026-03-02T14:00:00+08:00'),
    );
    // 01:00 local is before today's anchor: the previous day's 20:00 series goes on to 02:00.
    expect(nextReadAt(at('2026-03-02T01:00:00+08:00'), every6h, '02:00', 'Asia/Shanghai')).toBe(
      at('2026-03-02T02:00:00+08:00'),
    );
    // Exactly on a slot: the next one, not the same instant again.
    expect(nextReadAt(at('2026-03-02T08:00:00+08:00'), every6h, '02:00', 'Asia/Shanghai')).toBe(
      at('2026-03-02T14:00:00+08:00'),
    );
  });

  it('follows the zone, not UTC: a daily read at 03:00 in Berlin across the DST change', () => {
    const day = 86_400_000;
    expect(nextReadAt(at('2026-03-28T12:00:00+01:00'), day, '03:00', 'Europe/Berlin')).toBe(
      at('2026-03-29T03:00:00+02:00') - 0,
    );
    expect(zoneOffsetMs(at('2026-07-01T00:00:00Z'), 'Europe/Berlin')).toBe(2 * 3_600_000);
  });

  it('is always after now and within one interval of it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2035, 0, 1) }),
        fc.constantFrom(30, 60, 360, 720, 1440).map((m) => m * 60_000),
        fc.constantFrom('00:00', '02:30', '23:59'),
        fc.constantFrom('Asia/Shanghai', 'UTC', 'America/New_York'),
        (now, interval, startAt, tz) => {
          const next = nextReadAt(now, interval, startAt, tz)!;
          expect(next).toBeGreaterThan(now);
          expect(next - now).toBeLessThanOrEqual(interval + 3_600_000); // a DST hour at most
        },
      ),
    );
  });

  it('has no scheduled read when the interval is off', () => {
    expect(nextReadAt(Date.now(), everyMs('off'), '00:00', 'UTC')).toBeUndefined();
  });

  it('reads intervals as minutes, hours or days and refuses anything else', () => {
    expect(everyMs('30m')).toBe(1_800_000);
    expect(everyMs('6h')).toBe(21_600_000);
    expect(everyMs('1d')).toBe(86_400_000);
    expect(everyMs(45)).toBe(2_700_000);
    const r = DexConfig.safeParse({ port: '/dev/ttyUSB1', every: 'hourly' });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(/like \\"30m\\"/);
    expect(DexConfig.safeParse({ port: '/dev/x', startAt: '25:00' }).success).toBe(false);
  });
});
