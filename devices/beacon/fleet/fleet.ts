/**
 * The site's own beacons, as the gateway's scanner sees them: which are
 * present (found/lost with hysteresis), how strong and how far (smoothed
 * RSSI, log-distance estimate), how healthy (Eddystone-TLM battery and
 * temperature), and whether one looks cloned (TLM counters that contradict
 * each other, two addresses for one id at once, interleaved RSSI clusters).
 *
 * This file ties the parts together: directory.ts (which beacon a frame
 * is from), presence.ts (found/lost), clone.ts (clone evidence), health.ts
 * (TLM health), signal.ts (smoothing, distance).
 *
 * Pure logic: no timers, no I/O. Time comes from each report's `at` and
 * from `tick(now)`, which the owner calls periodically (the clock is
 * injected for `tick()` without an argument). Domain layer: it sees decoded
 * frames, never advertisement bytes.
 */
import { EventEmitter } from 'node:events';
import type { BeaconFrame, EddystoneTlmFrame } from '../frames.ts';
import {
  type CloneDetectionOptions,
  CloneDetector,
  type CloneRules,
  type CloneSuspicion,
  cloneRules,
} from './clone.ts';
import { BeaconDirectory, beaconId, type FleetBeaconMatch } from './directory.ts';
import { type BeaconHealth, type HealthRules, healthRules, TlmHealth } from './health.ts';
import { type PresenceRules, PresenceTracker, presenceRules } from './presence.ts';
import {
  createRssiFilter,
  eddystoneMeasuredPower,
  estimateDistance,
  type RssiFilter,
  type SmoothingOptions,
} from './signal.ts';

export type { FleetBeaconMatch } from './directory.ts';

export interface FleetBeaconConfig {
  /**
   * The beacon's id. Default: `ibeacon:<UUID>:<major>:<minor>`,
   * `eddystone-uid:<namespace>:<instance>`, and for a rotating iBeacon
   * `ibeacon:<UUID>:<major>:0` (minor 0 is never advertised); see beaconId.
   */
  id?: string;
  name: string;
  location?: string;
  match: FleetBeaconMatch;
  /** RSSI at 1 m; default from the frame (iBeacon measured power, Eddystone Tx power - 41). */
  measuredPower?: number;
  /** Path loss exponent for this beacon's distance; default the fleet's. */
  pathLossExponent?: number;
}

export interface BeaconFleetOptions {
  beacons: readonly FleetBeaconConfig[];
  /** For `tick()` without an argument. Default Date.now. */
  clock?: () => number;
  /** Found after this many sightings within `foundWithinMs`. Default 3 within 5 s. */
  foundAfterSightings?: number;
  foundWithinMs?: number;
  /** Lost after no sighting for this long. Default 15 s. */
  lostAfterMs?: number;
  smoothing?: SmoothingOptions;
  /** Log-distance path loss exponent n. Default 2.5 (indoors). */
  pathLossExponent?: number;
  /** A health event per beacon at most this often (and on found, and on its first TLM). Default 60 s. */
  healthEveryMs?: number;
  /** Battery percentage scale, linear between these (mV). Default 2000..3000 (a CR2032/2xAA cell). */
  batteryEmptyMv?: number;
  batteryFullMv?: number;
  clone?: CloneDetectionOptions;
}

export interface BeaconStatus {
  readonly id: string;
  readonly name: string;
  readonly location: string | undefined;
  readonly present: boolean;
  readonly firstSeenAt: number | undefined;
  readonly lastSeenAt: number | undefined;
  readonly sightings: number;
  /** Smoothed RSSI in dBm, or null before the first sighting (and after lost). */
  readonly rssi: number | null;
  readonly lastRssi: number | null;
  readonly distanceM: number | null;
  readonly address: string | undefined;
  readonly batteryMv: number | null;
  readonly batteryPercent: number | null;
  readonly temperatureC: number | null;
  readonly advCount: number | null;
  readonly uptimeS: number | null;
  readonly reboots: number;
  readonly cloneSuspected: CloneSuspicion | null;
}

export interface BeaconFleetEvents {
  found: [status: BeaconStatus];
  lost: [status: BeaconStatus, silentForMs: number];
  health: [health: BeaconHealth];
  'clone-suspected': [suspicion: CloneSuspicion];
}

/** The scanner port as the fleet uses it (BeaconScanner satisfies it). */
export interface FrameSource {
  on(
    event: 'frame',
    listener: (frame: BeaconFrame, rssi: number, address: string, at: number) => void,
  ): unknown;
  off(
    event: 'frame',
    listener: (frame: BeaconFrame, rssi: number, address: string, at: number) => void,
  ): unknown;
}

/** One configured beacon: its identity and the state of each mechanism. */
interface Rec {
  cfg: FleetBeaconConfig;
  id: string;
  presence: PresenceTracker;
  filter: RssiFilter;
  lastRssi: number | null;
  frameMeasuredPower: number | undefined;
  address: string | undefined;
  clone: CloneDetector;
  health: TlmHealth;
}

const MAX_ADDRESSES = 4096;

export type { CloneReason, CloneSuspicion } from './clone.ts';
export type { BeaconHealth } from './health.ts';

export class BeaconFleet extends EventEmitter<BeaconFleetEvents> {
  readonly #recs: Rec[] = [];
  readonly #directory = new BeaconDirectory<Rec>();
  /** Device address -> beacon, for telemetry frames (which carry no id). */
  readonly #byAddress = new Map<string, Rec>();
  /** The latest TLM from an address not yet tied to a beacon. */
  readonly #pendingTlm = new Map<string, { frame: EddystoneTlmFrame; rssi: number; at: number }>();
  readonly #clock: () => number;
  readonly #presence: PresenceRules;
  readonly #clone: CloneRules;
  readonly #health: HealthRules;
  readonly #n: number;
  #unknownFrames = 0;

  constructor(opts: BeaconFleetOptions) {
    super();
    this.#clock = opts.clock ?? Date.now;
    this.#presence = presenceRules(opts);
    this.#clone = cloneRules(opts.clone);
    this.#health = healthRules(opts);
    this.#n = opts.pathLossExponent ?? 2.5;
    for (const cfg of opts.beacons) {
      const id = beaconId(cfg);
      const rec: Rec = {
        cfg,
        id,
        presence: new PresenceTracker(this.#presence),
        filter: createRssiFilter(opts.smoothing),
        lastRssi: null,
        frameMeasuredPower: undefined,
        address: undefined,
        clone: new CloneDetector(id, cfg.name, this.#clone, (s) => this.emit('clone-suspected', s)),
        health: new TlmHealth(this.#health),
      };
      this.#directory.add(cfg, rec);
      this.#recs.push(rec);
    }
  }

  /** Subscribes to a scanner's frames; returns the unsubscribe function. */
  attach(source: FrameSource): () => void {
    const listener = (frame: BeaconFrame, rssi: number, address: string, at: number) =>
      this.observe(frame, rssi, address, at);
    source.on('frame', listener);
    return () => {
      source.off('frame', listener);
    };
  }

  /** Feeds one decoded advertisement report. Frames of beacons not in the fleet are counted and dropped. */
  observe(frame: BeaconFrame, rssi: number, address: string | undefined, at: number): void {
    if (frame.kind === 'eddystone-tlm') {
      const rec = address === undefined ? undefined : this.#byAddress.get(address);
      if (rec) {
        this.#sighting(rec, rssi, address, at);
        this.#telemetry(rec, frame, at);
      } else if (address !== undefined) {
        if (this.#pendingTlm.size >= 1024) this.#pendingTlm.delete(this.#pendingTlm.keys().next().value!);
        this.#pendingTlm.set(address, { frame, rssi, at });
      }
      return;
    }
    const rec = this.#directory.match(frame, at);
    if (!rec) {
      this.#unknownFrames++;
      return;
    }
    if (frame.kind === 'ibeacon') rec.frameMeasuredPower = frame.measuredPower;
    else if (frame.kind === 'eddystone-uid') rec.frameMeasuredPower = eddystoneMeasuredPower(frame.txPower);
    if (address !== undefined) {
      if (this.#byAddress.get(address) !== rec) {
        this.#byAddress.delete(address);
        if (this.#byAddress.size >= MAX_ADDRESSES)
          this.#byAddress.delete(this.#byAddress.keys().next().value!);
        this.#byAddress.set(address, rec);
      }
    }
    this.#sighting(rec, rssi, address, at);
    if (address !== undefined) {
      const pending = this.#pendingTlm.get(address);
      if (pending) {
        this.#pendingTlm.delete(address);
        if (at - pending.at <= this.#presence.lostAfterMs) this.#telemetry(rec, pending.frame, pending.at);
      }
    }
  }

  /** Declares beacons lost that have been silent for lostAfterMs. Call it periodically. */
  tick(now: number = this.#clock()): void {
    for (const rec of this.#recs) {
      if (rec.presence.overdue(now)) this.#lose(rec, now);
    }
  }

  get(id: string): BeaconStatus | undefined {
    const rec = this.#directory.lookup(id);
    return rec ? this.#status(rec) : undefined;
  }

  list(): BeaconStatus[] {
    return this.#recs.map((r) => this.#status(r));
  }

  /** BeaconPresence: when the scanner last saw the beacon with this id (any spelling the verifier uses). */
  lastSeenAt(id: string): number | undefined {
    return this.#directory.lookup(id)?.presence.lastSeenAt;
  }

  /** BeaconPresence: whether the id is under a clone suspicion (evidence within the hold time). */
  cloneSuspected(id: string, now: number = this.#clock()): boolean {
    return this.#directory.lookup(id)?.clone.suspected(now) ?? false;
  }

  /** An operator cleared a suspicion (e.g. after replacing the beacon). */
  clearCloneSuspicion(id: string): void {
    const rec = this.#directory.lookup(id);
    if (rec) {
      rec.clone.clear();
      // The TLM counters of the replaced beacon say nothing about the new one.
      rec.health.forget();
    }
  }

  stats(): { beacons: number; present: number; unknownFrames: number } {
    return {
      beacons: this.#recs.length,
      present: this.#recs.filter((r) => r.presence.present).length,
      unknownFrames: this.#unknownFrames,
    };
  }

  // ----------------------------------------------------------------- internals

  #sighting(rec: Rec, rssi: number, address: string | undefined, at: number): void {
    // A long gap with nobody calling tick() is still a loss, then a new visit.
    if (rec.presence.overdue(at)) this.#lose(rec, at);
    rec.presence.record(at);
    rec.lastRssi = rssi;
    rec.filter.update(rssi);
    if (address !== undefined) {
      rec.address = address;
      rec.clone.addressSeen(address, at);
    }
    rec.clone.rssiSample(rssi, rec.presence.sightings, at);
    if (rec.presence.arrive(at)) {
      this.emit('found', this.#status(rec));
      this.#reportHealth(rec, at, true);
      return;
    }
    this.#reportHealth(rec, at, false);
  }

  #lose(rec: Rec, now: number): void {
    const silent = rec.presence.lose(now);
    const status = this.#status(rec);
    rec.filter.reset();
    rec.clone.forgetSignal();
    this.emit('lost', status, silent);
  }

  #telemetry(rec: Rec, f: EddystoneTlmFrame, at: number): void {
    const prev = rec.health.latest;
    if (prev && rec.clone.tlm(prev, f, at)) rec.health.rebooted();
    if (rec.health.record(f, at)) this.#reportHealth(rec, at, true);
  }

  #reportHealth(rec: Rec, at: number, force: boolean): void {
    if (!rec.presence.present || !rec.health.due(at, force)) return;
    const s = this.#status(rec);
    this.emit('health', {
      id: rec.id,
      name: rec.cfg.name,
      at,
      battery: s.batteryMv === null ? null : { mv: s.batteryMv, percent: s.batteryPercent ?? 0 },
      temperatureC: s.temperatureC,
      rssi: s.rssi,
      distanceM: s.distanceM,
    });
  }

  #status(rec: Rec): BeaconStatus {
    const rssi = rec.filter.value ?? null;
    const mp = rec.cfg.measuredPower ?? rec.frameMeasuredPower;
    const n = rec.cfg.pathLossExponent ?? this.#n;
    const tlm = rec.health.latest;
    return {
      id: rec.id,
      name: rec.cfg.name,
      location: rec.cfg.location,
      present: rec.presence.present,
      firstSeenAt: rec.presence.firstSeenAt,
      lastSeenAt: rec.presence.lastSeenAt,
      sightings: rec.presence.sightings,
      rssi: rssi === null ? null : Math.round(rssi * 10) / 10,
      lastRssi: rec.lastRssi,
      distanceM:
        rssi === null || mp === undefined ? null : Math.round(estimateDistance(rssi, mp, n) * 100) / 100,
      address: rec.address,
      batteryMv: rec.health.batteryMv,
      batteryPercent: rec.health.batteryPercent,
      temperatureC: tlm?.temperatureC ?? null,
      advCount: tlm?.advCount ?? null,
      uptimeS: tlm?.uptimeS ?? null,
      reboots: rec.health.reboots,
      cloneSuspected: rec.clone.current,
    };
  }
}
