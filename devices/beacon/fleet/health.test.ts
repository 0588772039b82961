import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EddystoneTlmFrame } from '../frames.ts';
import { batteryPercent, healthRules, TlmHealth } from './health.ts';

const tlm = (batteryMv: number, temperatureC: number | null = 21.5): EddystoneTlmFrame => ({
  ok: true,
  kind: 'eddystone-tlm',
  version: 0,
  batteryMv,
  temperatureC,
  advCount: 100,
  uptimeS: 10,
});

describe('TLM health', () => {
  it('reads battery and temperature from the latest TLM frame, the first one flagged as such', () => {
    const h = new TlmHealth(healthRules());
    expect(h.latest).toBeNull();
    expect(h.batteryMv).toBeNull();
    expect(h.record(tlm(2950, 22.25), 100)).toBe(true);
    expect(h.record(tlm(2940, 22), 200)).toBe(false);
    expect(h.latest).toEqual({ advCount: 100, uptimeS: 10, at: 200, batteryMv: 2940, temperatureC: 22 });
    expect(h.batteryMv).toBe(2940);
    expect(h.batteryPercent).toBe(94);
  });

  it('reports no battery for a beacon that does not measure it (0 mV)', () => {
    const h = new TlmHealth(healthRules());
    h.record(tlm(0, null), 0);
    expect(h.batteryMv).toBeNull();
    expect(h.batteryPercent).toBeNull();
  });

  it('treats the next frame after forget as the first again', () => {
    const h = new TlmHealth(healthRules());
    h.record(tlm(2950), 0);
    h.forget();
    expect(h.latest).toBeNull();
    expect(h.record(tlm(2950), 1000)).toBe(true);
  });

  it('counts reboots', () => {
    const h = new TlmHealth(healthRules());
    h.rebooted();
    h.rebooted();
    expect(h.reboots).toBe(2);
  });

  it('is due at most once per interval unless forced', () => {
    const h = new TlmHealth(healthRules({ healthEveryMs: 10_000 }));
    const due = [0, 5000, 9999, 10_000, 12_000].map((at) => h.due(at, false));
    expect(due).toEqual([true, false, false, true, false]);
    expect(h.due(12_001, true)).toBe(true);
    expect(h.due(21_000, false)).toBe(false); // the forced report restarted the interval
  });

  it('maps any voltage to a whole percentage between 0 and 100, rising with the voltage', () => {
    const rules = healthRules({ batteryEmptyMv: 2000, batteryFullMv: 3000 });
    expect(batteryPercent(2000, rules)).toBe(0);
    expect(batteryPercent(2500, rules)).toBe(50);
    expect(batteryPercent(3600, rules)).toBe(100);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65_535 }), fc.integer({ min: 0, max: 65_535 }), (a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const p = batteryPercent(lo, rules);
        return Number.isInteger(p) && p >= 0 && p <= 100 && p <= batteryPercent(hi, rules);
      }),
    );
  });
});
