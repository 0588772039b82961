import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { ClockWatch } from './clock-watch.ts';

describe('ClockWatch', () => {
  it('knows nothing, and calls the clock fine, before any signed command arrived', () => {
    const w = new ClockWatch({ maxSkewMs: 30_000, clock: new ManualClock() });
    expect(w.status()).toEqual({ ok: true, skewMs: null, maxSkewMs: 30_000, samples: 0 });
  });

  it('measures a gateway in step with the platform as within the allowed skew', () => {
    const clock = new ManualClock();
    const w = new ClockWatch({ maxSkewMs: 30_000, clock });
    w.observe(clock.wallMs() - 40); // 40 ms in transit
    clock.advance(1000);
    w.observe(clock.wallMs() - 5);
    expect(w.status()).toMatchObject({ ok: true, skewMs: 5, samples: 2 });
  });

  it('reports a wall clock set 5 minutes back after the last command, without waiting for another', () => {
    const clock = new ManualClock();
    const w = new ClockWatch({ maxSkewMs: 30_000, clock });
    w.observe(clock.wallMs());
    clock.advance(10_000);
    clock.setWall(clock.wallMs() - 5 * 60_000);
    const s = w.status();
    expect(s).toMatchObject({ ok: false, skewMs: -300_000 });
    expect(s.message).toMatch(/300 s behind the platform's/);
  });

  it('takes the fastest command as the best estimate, so slow deliveries do not look like skew', () => {
    const clock = new ManualClock();
    const w = new ClockWatch({ maxSkewMs: 1000, clock });
    w.observe(clock.wallMs() - 120_000); // queued at the broker for two minutes
    w.observe(clock.wallMs() - 20);
    expect(w.status()).toMatchObject({ ok: true, skewMs: 20 });
  });

  it('refuses a negative allowance', () => {
    expect(() => new ClockWatch({ maxSkewMs: -1 })).toThrow(/maxSkewMs/);
  });
});
