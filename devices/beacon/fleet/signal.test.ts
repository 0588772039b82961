import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EmaFilter, estimateDistance, KalmanFilter, rssiAtDistance, rssiClusters } from './signal.ts';

describe('signal helpers', () => {
  it('distance and expected RSSI are inverses for any exponent', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.1, max: 100, noNaN: true }),
        fc.integer({ min: -100, max: -30 }),
        fc.double({ min: 1.5, max: 4.5, noNaN: true }),
        (d, mp, n) => Math.abs(estimateDistance(rssiAtDistance(d, mp, n), mp, n) - d) < 1e-6 * d + 1e-9,
      ),
    );
  });

  it('both filters stay within the range of their inputs', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -100, max: -30 }), { minLength: 1, maxLength: 50 }), (xs) => {
        const e = new EmaFilter(0.3);
        const k = new KalmanFilter();
        for (const x of xs) {
          e.update(x);
          k.update(x);
        }
        const lo = Math.min(...xs) - 1e-9;
        const hi = Math.max(...xs) + 1e-9;
        return e.value! >= lo && e.value! <= hi && k.value! >= lo && k.value! <= hi;
      }),
    );
  });

  it('the Kalman filter converges on a steady signal despite noise', () => {
    const k = new KalmanFilter(0.01, 9);
    for (let i = 0; i < 200; i++) k.update(-70 + ((i * 37) % 7) - 3);
    expect(k.value!).toBeGreaterThan(-71.5);
    expect(k.value!).toBeLessThan(-68.5);
  });

  it('never sees two clusters in samples that are all within the gap of each other', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -70, max: -56 }), { minLength: 8, maxLength: 30 }), (xs) => {
        return !rssiClusters(xs, 15).split;
      }),
    );
  });
});
