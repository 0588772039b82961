/**
 * Signal helpers for the beacon fleet: RSSI smoothing and distance from
 * measured power. Pure functions and tiny stateful filters, no clocks.
 */

/** Smooths a stream of RSSI samples (dBm). */
export interface RssiFilter {
  /** Feeds one sample; returns the smoothed value. */
  update(rssi: number): number;
  /** The current smoothed value, or undefined before the first sample. */
  readonly value: number | undefined;
  reset(): void;
}

/** Exponential moving average: `v += alpha * (sample - v)`. */
export class EmaFilter implements RssiFilter {
  #v: number | undefined;
  readonly alpha: number;

  constructor(alpha = 0.25) {
    if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`EMA alpha ${alpha} must be in (0, 1]`);
    this.alpha = alpha;
  }

  update(rssi: number): number {
    this.#v = this.#v === undefined ? rssi : this.#v + this.alpha * (rssi - this.#v);
    return this.#v;
  }

  get value(): number | undefined {
    return this.#v;
  }

  reset(): void {
    this.#v = undefined;
  }
}

/**
 * One-dimensional Kalman filter with a constant-level model ("Kalman-lite"):
 * process noise `q` (how fast the true RSSI may drift per sample) and
 * measurement noise `r` (the variance of one reading, dBm²). The gain
 * settles at a value set by q/r, so it behaves like an EMA that starts
 * fast and trusts each new sample less as its estimate firms up.
 */
export class KalmanFilter implements RssiFilter {
  #x: number | undefined;
  #p = 1;
  readonly q: number;
  readonly r: number;

  constructor(q = 0.05, r = 4) {
    if (!(q > 0) || !(r > 0)) throw new RangeError('Kalman q and r must be positive');
    this.q = q;
    this.r = r;
  }

  update(rssi: number): number {
    if (this.#x === undefined) {
      this.#x = rssi;
      this.#p = this.r;
      return rssi;
    }
    this.#p += this.q;
    const k = this.#p / (this.#p + this.r);
    this.#x += k * (rssi - this.#x);
    this.#p *= 1 - k;
    return this.#x;
  }

  get value(): number | undefined {
    return this.#x;
  }

  reset(): void {
    this.#x = undefined;
    this.#p = 1;
  }
}

export type SmoothingOptions = { kind: 'ema'; alpha?: number } | { kind: 'kalman'; q?: number; r?: number };

export function createRssiFilter(opts: SmoothingOptions = { kind: 'ema' }): RssiFilter {
  return opts.kind === 'kalman' ? new KalmanFilter(opts.q, opts.r) : new EmaFilter(opts.alpha);
}

/**
 * Distance in metres by the log-distance path loss model:
 * `rssi = measuredPower - 10 n log10(d)`, so `d = 10^((measuredPower - rssi) / (10 n))`.
 * `measuredPower` is the RSSI at 1 m (iBeacon's calibrated byte); `n` is 2
 * in free space and 2.5..4 indoors.
 */
export function estimateDistance(rssi: number, measuredPower: number, n = 2): number {
  if (!(n > 0)) throw new RangeError(`path loss exponent ${n} must be positive`);
  return 10 ** ((measuredPower - rssi) / (10 * n));
}

/** The inverse of estimateDistance: the RSSI expected at `distanceM`. */
export function rssiAtDistance(distanceM: number, measuredPower: number, n = 2): number {
  return measuredPower - 10 * n * Math.log10(Math.max(distanceM, 0.01));
}

/**
 * Eddystone advertises Tx power at 0 m; receivers lose about 41 dB over the
 * first metre (Eddystone spec, "Tx Power"), so RSSI at 1 m = txPower - 41.
 */
export function eddystoneMeasuredPower(txPowerAt0m: number): number {
  return txPowerAt0m - 41;
}

/**
 * Two interleaved RSSI populations far apart in one sample window: the
 * largest gap between sorted samples is at least `gapDb`, each side holds at
 * least `minShare` of the samples, and the time-ordered samples switch side
 * at least `minSwitches` times (a visitor walking away gives one switch,
 * two transmitters interleaving give many).
 */
export function rssiClusters(
  samples: readonly number[],
  gapDb = 15,
  minShare = 0.25,
  minSwitches = 4,
): { split: boolean; low: number; high: number; threshold: number } {
  const none = { split: false, low: Number.NaN, high: Number.NaN, threshold: Number.NaN };
  if (samples.length < 8) return none;
  const sorted = [...samples].sort((a, b) => a - b);
  let bestGap = 0;
  let at = -1;
  for (let i = 1; i < sorted.length; i++) {
    const g = sorted[i]! - sorted[i - 1]!;
    if (g > bestGap) {
      bestGap = g;
      at = i;
    }
  }
  if (bestGap < gapDb || at < 0) return none;
  const share = Math.min(at, sorted.length - at) / sorted.length;
  if (share < minShare) return none;
  const threshold = (sorted[at - 1]! + sorted[at]!) / 2;
  let switches = 0;
  for (let i = 1; i < samples.length; i++) {
    if (samples[i]! > threshold !== samples[i - 1]! > threshold) switches++;
  }
  if (switches < minSwitches) return none;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return { split: true, low: mean(sorted.slice(0, at)), high: mean(sorted.slice(at)), threshold };
}
