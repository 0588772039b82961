/**
 * Clone detection for one beacon: evidence that two transmitters advertise
 * one id (a copied iBeacon or Eddystone UID is trivial to replay). Three
 * kinds of evidence, each cheap to check per sighting:
 *
 * - Eddystone-TLM counters that contradict each other or the wall clock:
 *   a device's advertisement count and uptime only grow until it reboots,
 *   and uptime grows at wall-clock speed (Eddystone-TLM: ADV_CNT, SEC_CNT);
 * - one id advertised from two addresses at once (an address change is
 *   not: the old one falls silent);
 * - RSSI samples that alternate between two clusters far apart, as from two
 *   transmitters at different distances (a clone that spoofs the address).
 *
 * Pure: time comes from the callers.
 */
import { rssiClusters } from './signal.ts';

export type CloneReason =
  | 'tlm-counter-backwards'
  | 'tlm-uptime-inconsistent'
  | 'two-addresses'
  | 'rssi-clusters';

export interface CloneSuspicion {
  id: string;
  name: string;
  at: number;
  kind: CloneReason;
  reason: string;
  addresses: string[];
}

export interface CloneDetectionOptions {
  /** Two addresses each seen within this window (and at least twice) for one id. Default 10 s. */
  addressWindowMs?: number;
  /** TLM uptime may disagree with wall time by max(this, 10% of elapsed). Default 3 s. */
  uptimeToleranceS?: number;
  /** RSSI samples kept for cluster detection. Default 24. */
  rssiSamples?: number;
  /** Gap between the two RSSI clusters. Default 12 dB. */
  rssiGapDb?: number;
  /** A suspicion is held (cloneSuspected() true) this long after the last evidence. Default 10 min. */
  holdMs?: number;
  /** At most one clone-suspected event per beacon and reason this often. Default 60 s. */
  cooldownMs?: number;
}

export type CloneRules = Required<CloneDetectionOptions>;

export function cloneRules(opts: CloneDetectionOptions = {}): CloneRules {
  return {
    addressWindowMs: opts.addressWindowMs ?? 10_000,
    uptimeToleranceS: opts.uptimeToleranceS ?? 3,
    rssiSamples: opts.rssiSamples ?? 24,
    rssiGapDb: opts.rssiGapDb ?? 12,
    holdMs: opts.holdMs ?? 600_000,
    cooldownMs: opts.cooldownMs ?? 60_000,
  };
}

/** The TLM counters compared from one frame to the next, with when the frame was seen. */
export interface TlmCounters {
  advCount: number;
  uptimeS: number;
  /** When it was received, ms. */
  at: number;
}

/** One beacon's clone evidence and the suspicion it led to. */
export class CloneDetector {
  readonly #id: string;
  readonly #name: string;
  readonly #rules: CloneRules;
  readonly #report: (suspicion: CloneSuspicion) => void;
  /** Addresses this id was seen from lately: when last and how often. */
  readonly #addresses = new Map<string, { lastAt: number; count: number }>();
  /** The latest RSSI samples, oldest first. */
  readonly #samples: number[] = [];
  #suspicion: CloneSuspicion | null = null;
  readonly #reportedAt = new Map<CloneReason, number>();

  /** `report` is told of a suspicion, at most once per reason and cooldown. */
  constructor(id: string, name: string, rules: CloneRules, report: (suspicion: CloneSuspicion) => void) {
    this.#id = id;
    this.#name = name;
    this.#rules = rules;
    this.#report = report;
  }

  /** The latest suspicion, held until cleared, or null. */
  get current(): CloneSuspicion | null {
    return this.#suspicion;
  }

  /** Whether the latest evidence is within the hold time at `now`. */
  suspected(now: number): boolean {
    const c = this.#suspicion;
    return c !== null && now - c.at <= this.#rules.holdMs;
  }

  /** A sighting from `address` at `at`. */
  addressSeen(address: string, at: number): void {
    const window = this.#rules.addressWindowMs;
    const a = this.#addresses.get(address);
    if (a) {
      a.lastAt = at;
      a.count++;
    } else {
      this.#addresses.set(address, { lastAt: at, count: 1 });
    }
    const live: string[] = [];
    for (const [addr, e] of this.#addresses) {
      if (at - e.lastAt > window * 3) this.#addresses.delete(addr);
      else if (at - e.lastAt <= window && e.count >= 2) live.push(addr);
    }
    if (live.length >= 2) {
      this.#suspect(
        at,
        'two-addresses',
        `one id advertised from ${live.length} addresses within ${window} ms (${live.join(', ')})`,
        live,
      );
    }
  }

  /**
   * An RSSI sample at `at`; `sightings` counts them all, so the cluster
   * check runs on every fourth once the window is full, not on each.
   */
  rssiSample(rssi: number, sightings: number, at: number): void {
    const samples = this.#samples;
    samples.push(rssi);
    if (samples.length > this.#rules.rssiSamples) samples.shift();
    if (samples.length !== this.#rules.rssiSamples || sightings % 4 !== 0) return;
    const c = rssiClusters(samples, this.#rules.rssiGapDb);
    if (c.split) {
      this.#suspect(
        at,
        'rssi-clusters',
        `RSSI alternates between two clusters ${c.high.toFixed(0)} and ${c.low.toFixed(0)} dBm: two transmitters with one id`,
      );
    }
  }

  /**
   * Compares a TLM frame received at `at` with the previous one. Returns
   * true when both counters went back: a reboot (a battery change), which is
   * not by itself a clone.
   */
  tlm(prev: TlmCounters, next: { advCount: number; uptimeS: number }, at: number): boolean {
    const dWallS = (at - prev.at) / 1000;
    const dUp = next.uptimeS - prev.uptimeS;
    const dCount = next.advCount - prev.advCount;
    const tol = Math.max(this.#rules.uptimeToleranceS, 0.1 * Math.abs(dWallS));
    if (dCount < 0 && dUp >= 0) {
      this.#suspect(
        at,
        'tlm-counter-backwards',
        `TLM advertisement count went back from ${prev.advCount} to ${next.advCount} while uptime went on (${prev.uptimeS} s -> ${next.uptimeS} s)`,
      );
    } else if (dCount < 0 && dUp < 0) {
      return true;
    } else if (dUp < 0) {
      this.#suspect(
        at,
        'tlm-uptime-inconsistent',
        `TLM uptime went back from ${prev.uptimeS} s to ${next.uptimeS} s while the advertisement count rose`,
      );
    } else if (Math.abs(dUp - dWallS) > tol) {
      this.#suspect(
        at,
        'tlm-uptime-inconsistent',
        `TLM uptime advanced ${dUp.toFixed(1)} s in ${dWallS.toFixed(1)} s of wall time (from ${prev.uptimeS} s to ${next.uptimeS} s)`,
      );
    }
    return false;
  }

  /** The beacon was lost: its address and RSSI history say nothing about the next visit. */
  forgetSignal(): void {
    this.#samples.length = 0;
    this.#addresses.clear();
  }

  /** An operator cleared the suspicion (e.g. after replacing the beacon): start afresh. */
  clear(): void {
    this.#suspicion = null;
    this.#reportedAt.clear();
    this.forgetSignal();
  }

  #suspect(at: number, kind: CloneReason, reason: string, addresses?: string[]): void {
    const s: CloneSuspicion = {
      id: this.#id,
      name: this.#name,
      at,
      kind,
      reason,
      addresses: addresses ?? [...this.#addresses.keys()],
    };
    this.#suspicion = s;
    const last = this.#reportedAt.get(kind);
    if (last !== undefined && at - last < this.#rules.cooldownMs) return;
    this.#reportedAt.set(kind, at);
    this.#report(s);
  }
}
