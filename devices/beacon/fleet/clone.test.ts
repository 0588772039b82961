import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CloneDetectionOptions, CloneDetector, type CloneSuspicion, cloneRules } from './clone.ts';

const A = 'c0:ff:ee:00:00:01';
const B = 'c0:ff:ee:00:00:02';

function detector(opts: CloneDetectionOptions = {}) {
  const reported: CloneSuspicion[] = [];
  const d = new CloneDetector('beacon-1', 'Door', cloneRules(opts), (s) => reported.push(s));
  return { d, reported };
}

describe('clone detection from TLM counters', () => {
  it('suspects an advertisement count that goes back while uptime goes on', () => {
    const { d, reported } = detector();
    const rebooted = d.tlm({ advCount: 1000, uptimeS: 100, at: 0 }, { advCount: 400, uptimeS: 101 }, 1000);
    expect(rebooted).toBe(false);
    expect(reported).toEqual([
      expect.objectContaining({ id: 'beacon-1', name: 'Door', at: 1000, kind: 'tlm-counter-backwards' }),
    ]);
    expect(reported[0]!.reason).toMatch(/from 1000 to 400/);
  });

  it('treats both counters going back as a reboot, not a clone', () => {
    const { d, reported } = detector();
    expect(d.tlm({ advCount: 50_000, uptimeS: 5000, at: 0 }, { advCount: 3, uptimeS: 0.3 }, 1000)).toBe(true);
    expect(reported).toEqual([]);
    expect(d.current).toBeNull();
  });

  it('suspects uptime that goes back while the count rises, or advances far from wall time', () => {
    const { d, reported } = detector({ cooldownMs: 0 });
    d.tlm({ advCount: 50, uptimeS: 100, at: 0 }, { advCount: 60, uptimeS: 90 }, 1000);
    d.tlm({ advCount: 60, uptimeS: 6, at: 1000 }, { advCount: 900_000, uptimeS: 90_000 }, 2000);
    expect(reported.map((r) => r.kind)).toEqual(['tlm-uptime-inconsistent', 'tlm-uptime-inconsistent']);
    expect(reported[0]!.reason).toMatch(/went back/);
    expect(reported[1]!.reason).toMatch(/advanced/);
  });

  it('accepts any uptime that follows wall time within the tolerance', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 1, max: 3_600_000 }),
        fc.double({ min: -2.9, max: 2.9, noNaN: true }),
        (count, uptimeS, elapsedMs, driftS) => {
          const { d, reported } = detector({ uptimeToleranceS: 3 });
          const next = {
            advCount: count + 1,
            uptimeS: Math.max(uptimeS, uptimeS + elapsedMs / 1000 + driftS),
          };
          d.tlm({ advCount: count, uptimeS, at: 0 }, next, elapsedMs);
          return reported.length === 0;
        },
      ),
    );
  });
});

describe('clone detection from addresses and RSSI', () => {
  it('suspects one id advertised from two live addresses, naming both', () => {
    const { d, reported } = detector({ addressWindowMs: 5000 });
    for (let t = 0; t < 2000; t += 500) {
      d.addressSeen(A, t);
      d.addressSeen(B, t + 250);
    }
    expect(reported[0]).toMatchObject({ kind: 'two-addresses' });
    expect(reported[0]!.addresses.sort()).toEqual([A, B]);
  });

  it('does not suspect an address change: the old address is silent', () => {
    const { d, reported } = detector({ addressWindowMs: 5000 });
    for (let t = 0; t < 3000; t += 500) d.addressSeen(A, t);
    for (let t = 20_000; t < 26_000; t += 500) d.addressSeen(B, t);
    expect(reported).toEqual([]);
  });

  it('suspects RSSI alternating between two clusters far apart, checked every fourth sighting once the window is full', () => {
    const { d, reported } = detector({ rssiSamples: 8, rssiGapDb: 12 });
    for (let i = 1; i <= 7; i++) d.rssiSample(i % 2 ? -55 : -88, i, i * 100);
    expect(reported).toEqual([]); // the window is not full yet
    d.rssiSample(-88, 8, 800);
    expect(reported.map((r) => r.kind)).toEqual(['rssi-clusters']);
  });

  it('forgets addresses and RSSI history when the beacon is lost', () => {
    const { d, reported } = detector({ addressWindowMs: 5000 });
    d.addressSeen(A, 0);
    d.addressSeen(A, 100);
    d.forgetSignal();
    d.addressSeen(B, 200);
    d.addressSeen(B, 300);
    expect(reported).toEqual([]);
  });
});

describe('the clone suspicion', () => {
  it('is reported at most once per reason and cooldown, yet always holds the latest evidence', () => {
    const { d, reported } = detector({ cooldownMs: 60_000 });
    const backwards = (at: number) =>
      d.tlm({ advCount: 1000, uptimeS: 100, at: at - 1000 }, { advCount: 10, uptimeS: 101 }, at);
    backwards(1000);
    backwards(2000);
    expect(reported).toHaveLength(1);
    expect(d.current?.at).toBe(2000);
    backwards(61_000);
    expect(reported).toHaveLength(2);
  });

  it('is held for holdMs after the last evidence, and cleared by an operator', () => {
    const { d } = detector({ holdMs: 10_000, cooldownMs: 0 });
    expect(d.suspected(0)).toBe(false);
    d.tlm({ advCount: 1000, uptimeS: 100, at: 0 }, { advCount: 10, uptimeS: 101 }, 1000);
    expect(d.suspected(11_000)).toBe(true);
    expect(d.suspected(11_001)).toBe(false);
    d.clear();
    expect(d.current).toBeNull();
    expect(d.suspected(1000)).toBe(false);
  });

  it('after clearing, reports the next evidence at once instead of waiting out the cooldown', () => {
    const { d, reported } = detector({ cooldownMs: 60_000 });
    d.tlm({ advCount: 1000, uptimeS: 100, at: 0 }, { advCount: 10, uptimeS: 101 }, 1000);
    d.clear();
    d.tlm({ advCount: 1000, uptimeS: 100, at: 1000 }, { advCount: 10, uptimeS: 101 }, 2000);
    expect(reported).toHaveLength(2);
  });
});
