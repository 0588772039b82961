/**
 * RSSI over time for simulated beacons: a seeded random source, the
 * log-distance path loss model with Gaussian noise, a visitor walking past
 * (approach and leave), and visitors' bodies shadowing a static beacon.
 */

/** A seeded PRNG (mulberry32): the same seed gives the same site. */
export class Rng {
  #s: number;
  constructor(seed = 1) {
    this.#s = seed >>> 0 || 1;
  }
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  /** Standard normal (Box-Muller). */
  gauss(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
}

/** RSSI (dBm) a receiver sees at time t (ms), or null when out of range. */
export type RssiProfile = (t: number, rng: Rng) => number | null;

export interface PathLoss {
  /** RSSI at 1 m, dBm. Default -59. */
  measuredPower?: number;
  /** Path loss exponent. Default 2.5. */
  n?: number;
  /** Standard deviation of the noise, dB. Default 2. */
  noiseDb?: number;
}

function pathLoss(d: number, p: PathLoss, rng: Rng): number {
  const mp = p.measuredPower ?? -59;
  const n = p.n ?? 2.5;
  return mp - 10 * n * Math.log10(Math.max(d, 0.1)) + rng.gauss() * (p.noiseDb ?? 2);
}

/** A beacon at a fixed distance from the receiver. */
export function fixedDistance(distanceM: number, p: PathLoss = {}): RssiProfile {
  return (_t, rng) => pathLoss(distanceM, p, rng);
}

export interface PassBy extends PathLoss {
  /** When the walker is closest, ms. */
  closestAt: number;
  /** Closest distance, m. Default 1. */
  closestM?: number;
  /** Walking speed, m/s. Default 1.2. */
  speedMps?: number;
  /** Beyond this distance nothing is heard. Default 30 m. */
  rangeM?: number;
}

/**
 * A visitor walking past on a straight line: distance
 * sqrt(closest² + (v·(t - closestAt))²), so the RSSI rises as they approach
 * and falls as they leave.
 */
export function passBy(p: PassBy): RssiProfile {
  const closest = p.closestM ?? 1;
  const v = p.speedMps ?? 1.2;
  const range = p.rangeM ?? 30;
  return (t, rng) => {
    const along = (v * (t - p.closestAt)) / 1000;
    const d = Math.sqrt(closest * closest + along * along);
    return d > range ? null : pathLoss(d, p, rng);
  };
}

export interface Visitor {
  /** When the visitor is between the beacon and the receiver, ms. */
  at: number;
  /** How long their body is in the way, ms. Default 2000. */
  durationMs?: number;
  /** Attenuation at the deepest point, dB. Default 8. */
  dipDb?: number;
}

/** A static beacon whose signal dips while visitors walk between it and the receiver. */
export function withVisitors(base: RssiProfile, visitors: readonly Visitor[]): RssiProfile {
  return (t, rng) => {
    const r = base(t, rng);
    if (r === null) return null;
    let dip = 0;
    for (const v of visitors) {
      const half = (v.durationMs ?? 2000) / 2;
      const x = Math.abs(t - v.at) / half;
      if (x < 1) dip = Math.max(dip, (v.dipDb ?? 8) * (1 - x * x));
    }
    return r - dip;
  };
}
