/**
 * One beacon's health from its Eddystone-TLM frames (battery voltage in mV,
 * beacon temperature, advertisement count, uptime; Eddystone-TLM
 * unencrypted frame), and when a health report is due: on found, on the
 * first TLM, then at most every `healthEveryMs`. Pure: time comes from the
 * callers.
 */
import type { EddystoneTlmFrame } from '../frames.ts';

export interface BeaconHealth {
  id: string;
  name: string;
  at: number;
  battery: { mv: number; percent: number } | null;
  temperatureC: number | null;
  rssi: number | null;
  distanceM: number | null;
}

export interface HealthRules {
  /** A health report at most this often (besides on found and on the first TLM). */
  everyMs: number;
  /** Battery percentage scale, linear between these (mV). */
  batteryEmptyMv: number;
  batteryFullMv: number;
}

/** The rules with their defaults: every 60 s; 2000..3000 mV (a CR2032 or 2 x AA cell). */
export function healthRules(
  opts: { healthEveryMs?: number; batteryEmptyMv?: number; batteryFullMv?: number } = {},
): HealthRules {
  return {
    everyMs: opts.healthEveryMs ?? 60_000,
    batteryEmptyMv: opts.batteryEmptyMv ?? 2000,
    batteryFullMv: opts.batteryFullMv ?? 3000,
  };
}

/** Charge in whole percent, linear in voltage between empty and full, clamped to 0..100. */
export function batteryPercent(mv: number, rules: HealthRules): number {
  const span = rules.batteryFullMv - rules.batteryEmptyMv;
  return Math.round(Math.min(100, Math.max(0, ((mv - rules.batteryEmptyMv) / span) * 100)));
}

/** The latest TLM frame of a beacon and when it was received. */
export interface TlmReading {
  advCount: number;
  uptimeS: number;
  at: number;
  batteryMv: number;
  temperatureC: number | null;
}

export class TlmHealth {
  readonly #rules: HealthRules;
  #latest: TlmReading | null = null;
  #reboots = 0;
  #lastReportAt = Number.NEGATIVE_INFINITY;

  constructor(rules: HealthRules) {
    this.#rules = rules;
  }

  /** The latest TLM reading, or null before the first (or after forget). */
  get latest(): TlmReading | null {
    return this.#latest;
  }

  get reboots(): number {
    return this.#reboots;
  }

  /** Battery voltage, or null when unknown (no TLM yet, or 0: the beacon does not measure it). */
  get batteryMv(): number | null {
    return this.#latest && this.#latest.batteryMv > 0 ? this.#latest.batteryMv : null;
  }

  get batteryPercent(): number | null {
    const mv = this.batteryMv;
    return mv === null ? null : batteryPercent(mv, this.#rules);
  }

  /** Records a TLM frame received at `at`; returns true when it is the first. */
  record(frame: EddystoneTlmFrame, at: number): boolean {
    const first = this.#latest === null;
    this.#latest = {
      advCount: frame.advCount,
      uptimeS: frame.uptimeS,
      at,
      batteryMv: frame.batteryMv,
      temperatureC: frame.temperatureC,
    };
    return first;
  }

  /** Both TLM counters went back: the beacon rebooted (a battery change). */
  rebooted(): void {
    this.#reboots++;
  }

  /** Drops the latest reading: the next TLM counts as the first. */
  forget(): void {
    this.#latest = null;
  }

  /** Whether a report is due at `at` (always, when `force`); when it is, it counts as sent. */
  due(at: number, force: boolean): boolean {
    if (!force && at - this.#lastReportAt < this.#rules.everyMs) return false;
    this.#lastReportAt = at;
    return true;
  }
}
