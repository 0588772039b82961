/**
 * A simulated beacon site: beacons advertising iBeacon, Eddystone-UID and
 * Eddystone-TLM frames (bytes from the project's encoders) at their
 * advertising interval, with RSSI from a profile (distance, visitors walking
 * past, noise), battery drain and counters in their telemetry, clones, and
 * beacons that stop. Every advertisement goes to a VirtualHciController as
 * an LE Advertising Report, so whoever listens through noble sees what a
 * radio would hand over.
 *
 * Time is virtual: `advance(ms)` plays the next `ms` of the site in time
 * order, setting `now` to each advertisement's time before it is reported
 * (a scanner using `() => world.now` as its clock stamps frames with the
 * simulated time). `runRealtime()` follows the wall clock for demos.
 */

import type { BeaconFrameInput } from '../../devices/beacon/encode.ts';
import { encodeAdvertisement } from '../../devices/beacon/encode.ts';
import type { RotatingMinor } from '../../devices/beacon/rotating-id.ts';
import type { VirtualHciController } from './hci-controller.ts';
import { fixedDistance, Rng, type RssiProfile } from './rssi.ts';

export interface SimTlmOptions {
  /** Battery when the beacon is added (or rebooted), mV. Default 3000. */
  batteryMv?: number;
  /** Drain, mV per hour of simulated time. Default 2. */
  drainMvPerHour?: number;
  /** °C, or null for "not measured". Default 21.5. */
  temperatureC?: number | null;
  /** Counters at boot (a clone that copies the original would start high). Default 0. */
  advCount?: number;
  uptimeS?: number;
  /** One advertisement in this many is TLM. Default 5. */
  every?: number;
}

export interface SimBeaconSpec {
  name: string;
  address: string;
  addressType?: 'public' | 'random';
  ibeacon?: { uuid: string; major: number; minor?: number; rotation?: RotatingMinor; measuredPower?: number };
  eddystone?: { namespace: string; instance: string; txPower?: number };
  tlm?: SimTlmOptions;
  /** Advertising interval, ms (each event adds the 0..10 ms advDelay the spec requires). Default 100. */
  intervalMs?: number;
  /** Default: 2 m away, -59 dBm at 1 m, n = 2.5, 2 dB noise. */
  rssi?: RssiProfile;
}

export class SimBeacon {
  readonly spec: SimBeaconSpec;
  /** Whether the beacon is advertising. */
  on = true;
  /** Advertising events since boot. */
  seq = 0;
  bootAt: number;
  nextAt: number;
  rssi: RssiProfile;

  constructor(spec: SimBeaconSpec, now: number, rng: Rng) {
    if (!spec.ibeacon && !spec.eddystone)
      throw new RangeError(`beacon ${spec.name} needs an iBeacon or Eddystone identity`);
    this.spec = spec;
    this.bootAt = now;
    this.nextAt = now + rng.int(0, spec.intervalMs ?? 100);
    this.rssi = spec.rssi ?? fixedDistance(2);
  }

  get name(): string {
    return this.spec.name;
  }

  get address(): string {
    return this.spec.address;
  }

  /** The iBeacon minor at time t (rotating or fixed). */
  minorAt(t: number): number {
    const ib = this.spec.ibeacon!;
    return ib.rotation ? ib.rotation.currentMinor(t) : (ib.minor ?? 0);
  }

  /** The id a phone near this beacon would report at time t (as in a shake claim). */
  idAt(t: number): string {
    const ib = this.spec.ibeacon;
    if (ib) return `ibeacon:${ib.uuid.toUpperCase()}:${ib.major}:${this.minorAt(t)}`;
    const e = this.spec.eddystone!;
    return `eddystone:${e.namespace}:${e.instance}`;
  }

  /** Telemetry as of time t. */
  tlmAt(t: number): Extract<BeaconFrameInput, { kind: 'eddystone-tlm' }> {
    const o = this.spec.tlm ?? {};
    const sinceBootS = (t - this.bootAt) / 1000;
    const upS = (o.uptimeS ?? 0) + sinceBootS;
    const temp = o.temperatureC === undefined ? 21.5 : o.temperatureC;
    return {
      kind: 'eddystone-tlm',
      version: 0,
      batteryMv: Math.max(
        0,
        Math.round((o.batteryMv ?? 3000) - ((o.drainMvPerHour ?? 2) * sinceBootS) / 3600),
      ),
      temperatureC: temp === null ? null : Math.round(temp * 256) / 256,
      advCount: (o.advCount ?? 0) + this.seq,
      uptimeS: Math.round(upS * 10) / 10,
    };
  }

  /** The frame sent in advertising event number `seq` at time t. */
  frameAt(t: number): BeaconFrameInput {
    const s = this.spec;
    const every = s.tlm?.every ?? 5;
    if (s.tlm && s.eddystone && this.seq % every === every - 1) return this.tlmAt(t);
    const ids: BeaconFrameInput[] = [];
    if (s.ibeacon) {
      ids.push({
        kind: 'ibeacon',
        uuid: s.ibeacon.uuid,
        major: s.ibeacon.major,
        minor: this.minorAt(t),
        measuredPower: s.ibeacon.measuredPower ?? -59,
      });
    }
    if (s.eddystone) {
      ids.push({
        kind: 'eddystone-uid',
        txPower: s.eddystone.txPower ?? -18,
        namespace: s.eddystone.namespace,
        instance: s.eddystone.instance,
      });
    }
    return ids[this.seq % ids.length]!;
  }

  /** Power cycle (battery change): counters and uptime restart. */
  reboot(now: number): void {
    const batteryMv = this.tlmAt(now).batteryMv;
    this.seq = 0;
    this.bootAt = now;
    if (this.spec.tlm) this.spec.tlm = { ...this.spec.tlm, batteryMv, advCount: 0, uptimeS: 0 };
  }
}

export interface BeaconWorldOptions {
  controller: VirtualHciController;
  seed?: number;
  /** Simulated time at the start, Unix ms. Default 2025-06-01T12:00:00Z. */
  start?: number;
  /** Reports weaker than this are not heard. Default -100 dBm. */
  sensitivityDbm?: number;
}

export interface CloneOptions {
  name?: string;
  address: string;
  rssi?: RssiProfile;
  /** 'reset': the clone's TLM counters start from zero (a fresh device); 'copy': it starts from the original's. Default 'reset'. */
  tlm?: 'reset' | 'copy';
}

export class BeaconWorld {
  readonly controller: VirtualHciController;
  readonly rng: Rng;
  #now: number;
  readonly #sensitivity: number;
  readonly #beacons = new Map<string, SimBeacon>();
  /** Advertisements sent on air (heard or not). */
  sent = 0;

  constructor(opts: BeaconWorldOptions) {
    this.controller = opts.controller;
    this.rng = new Rng(opts.seed ?? 1);
    this.#now = opts.start ?? Date.UTC(2025, 5, 1, 12, 0, 0);
    this.#sensitivity = opts.sensitivityDbm ?? -100;
  }

  get now(): number {
    return this.#now;
  }

  add(spec: SimBeaconSpec): SimBeacon {
    if (this.#beacons.has(spec.name)) throw new RangeError(`beacon ${spec.name} already exists`);
    const b = new SimBeacon(spec, this.#now, this.rng);
    this.#beacons.set(spec.name, b);
    return b;
  }

  get(name: string): SimBeacon {
    const b = this.#beacons.get(name);
    if (!b) throw new RangeError(`no beacon ${name}`);
    return b;
  }

  beacons(): SimBeacon[] {
    return [...this.#beacons.values()];
  }

  /** Takes a beacon off the air (its battery died, someone took it). */
  remove(name: string): void {
    this.#beacons.delete(name);
  }

  /**
   * A second device advertising the same identity from another address,
   * with its own signal pattern and, by default, its own telemetry counters.
   */
  clone(of: string, opts: CloneOptions): SimBeacon {
    const orig = this.get(of);
    const o = orig.spec;
    const tlm = o.tlm
      ? opts.tlm === 'copy'
        ? { ...o.tlm, advCount: orig.tlmAt(this.#now).advCount, uptimeS: orig.tlmAt(this.#now).uptimeS }
        : { ...o.tlm, advCount: 0, uptimeS: 0 }
      : undefined;
    const spec: SimBeaconSpec = { ...o, name: opts.name ?? `${o.name} (clone)`, address: opts.address };
    if (tlm) spec.tlm = tlm;
    if (opts.rssi) spec.rssi = opts.rssi;
    return this.add(spec);
  }

  /** Plays the next `ms` of the site; resolves once noble has processed every report. Returns how many were delivered. */
  async advance(ms: number): Promise<number> {
    const end = this.#now + ms;
    let delivered = 0;
    for (;;) {
      let next: SimBeacon | undefined;
      for (const b of this.#beacons.values()) {
        if (b.on && b.nextAt < end && (next === undefined || b.nextAt < next.nextAt)) next = b;
      }
      if (!next) break;
      const t = next.nextAt;
      this.#now = t;
      const frame = next.frameAt(t);
      const rssi = next.rssi(t, this.rng);
      next.seq++;
      next.nextAt = t + (next.spec.intervalMs ?? 100) + this.rng.int(0, 10);
      this.sent++;
      if (rssi !== null && rssi >= this.#sensitivity) {
        const r = {
          address: next.address,
          addressType: next.spec.addressType ?? 'public',
          data: encodeAdvertisement(frame),
          rssi,
        } as const;
        if (this.controller.report(r)) delivered++;
      }
    }
    this.#now = end;
    await this.controller.settle();
    return delivered;
  }

  /** Follows the wall clock (for the demo): advances every `tickMs`. Returns a stop function. */
  runRealtime(tickMs = 100): () => void {
    let last = Date.now();
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      const now = Date.now();
      busy = true;
      void this.advance(now - last).finally(() => {
        busy = false;
      });
      last = now;
    }, tickMs);
    return () => clearInterval(timer);
  }
}
