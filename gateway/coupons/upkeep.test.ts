import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { CouponUpkeep } from './upkeep.ts';

function rig(opts: { failExpire?: boolean } = {}) {
  const calls: string[] = [];
  let notified = 0;
  const upkeep = new CouponUpkeep({
    coupons: {
      expire: (now) => {
        calls.push(`expire ${now}`);
        if (opts.failExpire) throw new Error('database is locked');
        return 0;
      },
      purge: (now) => {
        calls.push(`purge ${now}`);
        return { claims: 0, userDays: 0, coupons: 0 };
      },
    },
    notify: () => {
      notified++;
    },
    log: silentLogger(),
    now: () => 5_000,
  });
  return { upkeep, calls, notified: () => notified };
}

describe('coupon upkeep', () => {
  it('expires coupons and purges old claims at the same instant, then wakes the link', () => {
    const { upkeep, calls, notified } = rig();
    upkeep.runOnce();
    expect(calls).toEqual(['expire 5000', 'purge 5000']);
    expect(notified()).toBe(1);
  });

  it('logs a failed round and lets the next one run', () => {
    const { upkeep, calls, notified } = rig({ failExpire: true });
    expect(() => upkeep.runOnce()).not.toThrow();
    expect(() => upkeep.runOnce()).not.toThrow();
    expect(calls).toEqual(['expire 5000', 'expire 5000']);
    expect(notified()).toBe(0);
  });

  it('runs its timer only between start and stop', () => {
    const { upkeep } = rig();
    expect(upkeep.running).toBe(false);
    upkeep.start();
    upkeep.start();
    expect(upkeep.running).toBe(true);
    upkeep.stop();
    expect(upkeep.running).toBe(false);
  });
});
