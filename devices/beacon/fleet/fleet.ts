/**
 * The site's own beacons, as the gateway's scanner sees them: which are
 * present (found/lost with hysteresis), how strong and how far (smoothed
 * RSSI, log-distance estimate), how healthy (Eddystone-TLM battery and
 * temperature), and whether one looks cloned (TLM counters that contradict
 * each other, two addresses for one id at once, interleaved RSSI clusters).
 *
 * Pure logic: no timers, no I/O. Time comes from each report's `at` and
 * from `tick(now)`, which the owner calls periodically (the clock is
 * injected for `tick()` without an argument). Domain layer: it sees decoded
 * frames, never advertisement bytes.
 */
import { EventEmitter } from 'node:events';
import type { BeaconFrame, EddystoneTlmFrame } from '../frames.ts';
import { canonicalBeaconKey, type RotatingMinor } from '../rotating-id.ts';
import {
  createRssiFilter,
  eddystoneMeasuredPower,
  estimateDistance,
  type RssiFilter,
  rssiClusters,
  type SmoothingOptions,
} from './signal.ts';

export type FleetBeaconMatch =
  | { kind: 'ibeacon'; uuid: string; major: number; minor: number }
  | { kind: 'ibeacon'; uuid: string; major: number; rotation: RotatingMinor }
  | { kind: 'eddystone-uid'; namespace: string; instance: string };

export interface FleetBeaconConfig {
  /**
   * The beacon's id. Default: `ibeacon:<UUID>:<major>:<minor>`,
   * `eddystone-uid:<namespace>:<instance>`, and for a rotating iBeacon
   * `ibeacon:<UUID>:<major>:0` (minor 0 is never advertised).
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
  clone?: {
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
  };
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

export interface BeaconHealth {
  id: string;
  name: string;
  at: number;
  battery: { mv: number; percent: number } | null;
  temperatureC: number | null;
  rssi: number | null;
  distanceM: number | null;
}

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

interface Rec {
  cfg: FleetBeaconConfig;
  id: string;
  recent: number[];
  present: boolean;
  firstSeenAt: number | undefined;
  lastSeenAt: number | undefined;
  count: number;
  filter: RssiFilter;
  lastRssi: number | null;
  frameMeasuredPower: number | undefined;
  address: string | undefined;
  addresses: Map<string, { lastAt: number; count: number }>;
  samples: number[];
  tlm: {
    advCount: number;
    uptimeS: number;
    at: number;
    batteryMv: number;
    temperatureC: number | null;
  } | null;
  reboots: number;
  lastHealthAt: number;
  clone: CloneSuspicion | null;
  cloneEmittedAt: Map<CloneReason, number>;
}

interface RotatingEntry {
  rec: Rec;
  rotation: RotatingMinor;
  cacheWindow: number;
  cache: Set<number>;
}

const MAX_ADDRESSES = 4096;

export class BeaconFleet extends EventEmitter<BeaconFleetEvents> {
  readonly #recs: Rec[] = [];
  readonly #byKey = new Map<string, Rec>();
  readonly #byId = new Map<string, Rec>();
  readonly #rotating = new Map<string, RotatingEntry[]>();
  /** Device address -> beacon, for telemetry frames (which carry no id). */
  readonly #byAddress = new Map<string, Rec>();
  /** The latest TLM from an address not yet tied to a beacon. */
  readonly #pendingTlm = new Map<string, { frame: EddystoneTlmFrame; rssi: number; at: number }>();
  readonly #clock: () => number;
  readonly #k: number;
  readonly #withinMs: number;
  readonly #lostMs: number;
  readonly #n: number;
  readonly #healthMs: number;
  readonly #emptyMv: number;
  readonly #fullMv: number;
  readonly #addrWindowMs: number;
  readonly #uptimeTolS: number;
  readonly #samples: number;
  readonly #gapDb: number;
  readonly #holdMs: number;
  readonly #cooldownMs: number;
  #unknownFrames = 0;

  constructor(opts: BeaconFleetOptions) {
    super();
    this.#clock = opts.clock ?? Date.now;
    this.#k = opts.foundAfterSightings ?? 3;
    this.#withinMs = opts.foundWithinMs ?? 5000;
    this.#lostMs = opts.lostAfterMs ?? 15_000;
    this.#n = opts.pathLossExponent ?? 2.5;
    this.#healthMs = opts.healthEveryMs ?? 60_000;
    this.#emptyMv = opts.batteryEmptyMv ?? 2000;
    this.#fullMv = opts.batteryFullMv ?? 3000;
    this.#addrWindowMs = opts.clone?.addressWindowMs ?? 10_000;
    this.#uptimeTolS = opts.clone?.uptimeToleranceS ?? 3;
    this.#samples = opts.clone?.rssiSamples ?? 24;
    this.#gapDb = opts.clone?.rssiGapDb ?? 12;
    this.#holdMs = opts.clone?.holdMs ?? 600_000;
    this.#cooldownMs = opts.clone?.cooldownMs ?? 60_000;
    if (!Number.isInteger(this.#k) || this.#k < 1) throw new RangeError('foundAfterSightings must be >= 1');
    if (!(this.#lostMs > 0)) throw new RangeError('lostAfterMs must be positive');
    for (const cfg of opts.beacons) {
      const m = cfg.match;
      let key: string;
      let id: string;
      if (m.kind === 'eddystone-uid') {
        key = `eddystone-uid:${m.namespace.toLowerCase()}:${m.instance.toLowerCase()}`;
        id = cfg.id ?? key;
      } else if ('rotation' in m) {
        key = `${m.uuid.toUpperCase()}:${m.major}`;
        id = cfg.id ?? `ibeacon:${m.uuid.toUpperCase()}:${m.major}:0`;
      } else {
        key = `ibeacon:${m.uuid.toUpperCase()}:${m.major}:${m.minor}`;
        id = cfg.id ?? key;
      }
      if (this.#byId.has(id)) throw new RangeError(`beacon id ${id} is configured twice`);
      const rec: Rec = {
        cfg,
        id,
        recent: [],
        present: false,
        firstSeenAt: undefined,
        lastSeenAt: undefined,
        count: 0,
        filter: createRssiFilter(opts.smoothing),
        lastRssi: null,
        frameMeasuredPower: undefined,
        address: undefined,
        addresses: new Map(),
        samples: [],
        tlm: null,
        reboots: 0,
        lastHealthAt: Number.NEGATIVE_INFINITY,
        clone: null,
        cloneEmittedAt: new Map(),
      };
      this.#recs.push(rec);
      this.#byId.set(id, rec);
      const canon = canonicalBeaconKey(id);
      if (canon) this.#byId.set(canon.key, rec);
      if (m.kind === 'ibeacon' && 'rotation' in m) {
        const list = this.#rotating.get(key) ?? [];
        list.push({ rec, rotation: m.rotation, cacheWindow: -1, cache: new Set() });
        this.#rotating.set(key, list);
      } else {
        if (this.#byKey.has(key)) throw new RangeError(`beacon ${key} is configured twice`);
        this.#byKey.set(key, rec);
      }
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
    const rec = this.#match(frame, at);
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
        if (at - pending.at <= this.#lostMs) this.#telemetry(rec, pending.frame, pending.at);
      }
    }
  }

  /** Declares beacons lost that have been silent for lostAfterMs. Call it periodically. */
  tick(now: number = this.#clock()): void {
    for (const rec of this.#recs) {
      if (rec.present && rec.lastSeenAt !== undefined && now - rec.lastSeenAt > this.#lostMs) {
        this.#lose(rec, now);
      }
    }
  }

  get(id: string): BeaconStatus | undefined {
    const rec = this.#lookup(id);
    return rec ? this.#status(rec) : undefined;
  }

  list(): BeaconStatus[] {
    return this.#recs.map((r) => this.#status(r));
  }

  /** BeaconPresence: when the scanner last saw the beacon with this id (any spelling the verifier uses). */
  lastSeenAt(id: string): number | undefined {
    return this.#lookup(id)?.lastSeenAt;
  }

  /** BeaconPresence: whether the id is under a clone suspicion (evidence within the hold time). */
  cloneSuspected(id: string, now: number = this.#clock()): boolean {
    const c = this.#lookup(id)?.clone;
    return c != null && now - c.at <= this.#holdMs;
  }

  /** An operator cleared a suspicion (e.g. after replacing the beacon). */
  clearCloneSuspicion(id: string): void {
    const rec = this.#lookup(id);
    if (rec) {
      rec.clone = null;
      rec.cloneEmittedAt.clear();
      rec.addresses.clear();
      rec.samples.length = 0;
      rec.tlm = null;
    }
  }

  stats(): { beacons: number; present: number; unknownFrames: number } {
    return {
      beacons: this.#recs.length,
      present: this.#recs.filter((r) => r.present).length,
      unknownFrames: this.#unknownFrames,
    };
  }

  // ----------------------------------------------------------------- internals

  #lookup(id: string): Rec | undefined {
    return this.#byId.get(id) ?? this.#byId.get(canonicalBeaconKey(id)?.key ?? '');
  }

  #match(frame: BeaconFrame, at: number): Rec | undefined {
    if (frame.kind === 'ibeacon') {
      const rec = this.#byKey.get(`ibeacon:${frame.uuid}:${frame.major}:${frame.minor}`);
      if (rec) return rec;
      const list = this.#rotating.get(`${frame.uuid}:${frame.major}`);
      if (!list) return undefined;
      for (const e of list) {
        const w = e.rotation.windowAt(at);
        if (e.cacheWindow !== w) {
          // Beacons and gateway clocks differ a little: accept the window
          // before and after the current one.
          e.cache = new Set([w - 1, w, w + 1].filter((x) => x >= 0).map((x) => e.rotation.minorForWindow(x)));
          e.cacheWindow = w;
        }
        if (e.cache.has(frame.minor)) return e.rec;
      }
      return undefined;
    }
    if (frame.kind === 'eddystone-uid')
      return this.#byKey.get(`eddystone-uid:${frame.namespace}:${frame.instance}`);
    return undefined;
  }

  #sighting(rec: Rec, rssi: number, address: string | undefined, at: number): void {
    if (rec.present && rec.lastSeenAt !== undefined && at - rec.lastSeenAt > this.#lostMs)
      this.#lose(rec, at);
    rec.count++;
    rec.firstSeenAt ??= at;
    if (rec.lastSeenAt === undefined || at >= rec.lastSeenAt) rec.lastSeenAt = at;
    rec.lastRssi = rssi;
    rec.filter.update(rssi);
    if (address !== undefined) {
      rec.address = address;
      this.#checkAddresses(rec, address, at);
    }
    rec.samples.push(rssi);
    if (rec.samples.length > this.#samples) rec.samples.shift();
    if (rec.samples.length === this.#samples && rec.count % 4 === 0) {
      const c = rssiClusters(rec.samples, this.#gapDb);
      if (c.split) {
        this.#suspect(
          rec,
          at,
          'rssi-clusters',
          `RSSI alternates between two clusters ${c.high.toFixed(0)} and ${c.low.toFixed(0)} dBm: two transmitters with one id`,
        );
      }
    }
    if (!rec.present) {
      const r = rec.recent;
      r.push(at);
      while (r.length > 0 && at - r[0]! > this.#withinMs) r.shift();
      if (r.length > this.#k) r.shift();
      if (r.length >= this.#k) {
        rec.present = true;
        rec.recent = [];
        this.emit('found', this.#status(rec));
        this.#health(rec, at, true);
        return;
      }
    }
    this.#health(rec, at, false);
  }

  #lose(rec: Rec, now: number): void {
    const silent = now - (rec.lastSeenAt ?? now);
    rec.present = false;
    rec.recent = [];
    const status = this.#status(rec);
    rec.filter.reset();
    rec.samples.length = 0;
    rec.addresses.clear();
    this.emit('lost', status, silent);
  }

  #checkAddresses(rec: Rec, address: string, at: number): void {
    const a = rec.addresses.get(address);
    if (a) {
      a.lastAt = at;
      a.count++;
    } else {
      rec.addresses.set(address, { lastAt: at, count: 1 });
    }
    const live: string[] = [];
    for (const [addr, e] of rec.addresses) {
      if (at - e.lastAt > this.#addrWindowMs * 3) rec.addresses.delete(addr);
      else if (at - e.lastAt <= this.#addrWindowMs && e.count >= 2) live.push(addr);
    }
    if (live.length >= 2) {
      this.#suspect(
        rec,
        at,
        'two-addresses',
        `one id advertised from ${live.length} addresses within ${this.#addrWindowMs} ms (${live.join(', ')})`,
        live,
      );
    }
  }

  #telemetry(rec: Rec, f: EddystoneTlmFrame, at: number): void {
    const prev = rec.tlm;
    const first = prev === null;
    if (prev) {
      const dWallS = (at - prev.at) / 1000;
      const dUp = f.uptimeS - prev.uptimeS;
      const dCount = f.advCount - prev.advCount;
      const tol = Math.max(this.#uptimeTolS, 0.1 * Math.abs(dWallS));
      if (dCount < 0 && dUp >= 0) {
        this.#suspect(
          rec,
          at,
          'tlm-counter-backwards',
          `TLM advertisement count went back from ${prev.advCount} to ${f.advCount} while uptime went on (${prev.uptimeS} s -> ${f.uptimeS} s)`,
        );
      } else if (dCount < 0 && dUp < 0) {
        rec.reboots++; // both counters reset: a reboot (battery change), not by itself a clone
      } else if (dUp < 0) {
        this.#suspect(
          rec,
          at,
          'tlm-uptime-inconsistent',
          `TLM uptime went back from ${prev.uptimeS} s to ${f.uptimeS} s while the advertisement count rose`,
        );
      } else if (Math.abs(dUp - dWallS) > tol) {
        this.#suspect(
          rec,
          at,
          'tlm-uptime-inconsistent',
          `TLM uptime advanced ${dUp.toFixed(1)} s in ${dWallS.toFixed(1)} s of wall time (from ${prev.uptimeS} s to ${f.uptimeS} s)`,
        );
      }
    }
    rec.tlm = {
      advCount: f.advCount,
      uptimeS: f.uptimeS,
      at,
      batteryMv: f.batteryMv,
      temperatureC: f.temperatureC,
    };
    if (first) this.#health(rec, at, true);
  }

  #suspect(rec: Rec, at: number, kind: CloneReason, reason: string, addresses?: string[]): void {
    const s: CloneSuspicion = {
      id: rec.id,
      name: rec.cfg.name,
      at,
      kind,
      reason,
      addresses: addresses ?? [...rec.addresses.keys()],
    };
    rec.clone = s;
    const last = rec.cloneEmittedAt.get(kind);
    if (last !== undefined && at - last < this.#cooldownMs) return;
    rec.cloneEmittedAt.set(kind, at);
    this.emit('clone-suspected', s);
  }

  #health(rec: Rec, at: number, force: boolean): void {
    if (!rec.present) return;
    if (!force && at - rec.lastHealthAt < this.#healthMs) return;
    rec.lastHealthAt = at;
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
    const mv = rec.tlm && rec.tlm.batteryMv > 0 ? rec.tlm.batteryMv : null;
    const pct =
      mv === null
        ? null
        : Math.round(
            Math.min(100, Math.max(0, ((mv - this.#emptyMv) / (this.#fullMv - this.#emptyMv)) * 100)),
          );
    return {
      id: rec.id,
      name: rec.cfg.name,
      location: rec.cfg.location,
      present: rec.present,
      firstSeenAt: rec.firstSeenAt,
      lastSeenAt: rec.lastSeenAt,
      sightings: rec.count,
      rssi: rssi === null ? null : Math.round(rssi * 10) / 10,
      lastRssi: rec.lastRssi,
      distanceM:
        rssi === null || mp === undefined ? null : Math.round(estimateDistance(rssi, mp, n) * 100) / 100,
      address: rec.address,
      batteryMv: mv,
      batteryPercent: pct,
      temperatureC: rec.tlm?.temperatureC ?? null,
      advCount: rec.tlm?.advCount ?? null,
      uptimeS: rec.tlm?.uptimeS ?? null,
      reboots: rec.reboots,
      cloneSuspected: rec.clone,
    };
  }
}
