/**
 * Last-seen tracking of beacons by identity: one entry per beacon, updated
 * in place on every report (RSSI, time, count), bounded in size. The scanner
 * driver feeds it every advertisement report (duplicates allowed), so the
 * update path allocates nothing for a beacon it already knows.
 */
import type { BeaconFrame } from './frames.ts';

/**
 * A stable key for the beacon a frame identifies, or null when the frame
 * carries no identity of its own: TLM frames (telemetry only; pair them by
 * device address) and URL frames (many beacons may advertise one URL).
 * An EID key is only stable within one rotation window.
 */
export function beaconIdentity(f: BeaconFrame): string | null {
  switch (f.kind) {
    case 'ibeacon':
      return `ibeacon:${f.uuid}:${f.major}:${f.minor}`;
    case 'eddystone-uid':
      return `eddystone-uid:${f.namespace}:${f.instance}`;
    case 'eddystone-eid':
      return `eddystone-eid:${f.eid}`;
    case 'altbeacon':
      return `altbeacon:${f.companyId}:${f.beaconId}`;
    default:
      return null;
  }
}

export interface Sighting {
  readonly key: string;
  /** The latest frame seen for this key. */
  frame: BeaconFrame;
  rssi: number;
  /** The device address of the latest report, when the caller knows it. */
  address: string | undefined;
  readonly firstSeenMs: number;
  lastSeenMs: number;
  count: number;
}

export interface BeaconSightingsOptions {
  /** At most this many beacons are tracked; the least recently inserted is dropped first. Default 10,000. */
  maxEntries?: number;
}

export class BeaconSightings {
  readonly #byKey = new Map<string, Sighting>();
  readonly #max: number;
  #evicted = 0;

  constructor(opts: BeaconSightingsOptions = {}) {
    this.#max = opts.maxEntries ?? 10_000;
    if (!Number.isInteger(this.#max) || this.#max < 1)
      throw new RangeError('maxEntries must be a positive integer');
  }

  /**
   * Records one report. Frames without an identity are keyed by device
   * address (`addr:<address>`) when one is given, else ignored (undefined).
   */
  observe(frame: BeaconFrame, rssi: number, nowMs: number, address?: string): Sighting | undefined {
    const key = beaconIdentity(frame) ?? (address === undefined ? null : `addr:${address}`);
    if (key === null) return undefined;
    const s = this.#byKey.get(key);
    if (s !== undefined) {
      s.frame = frame;
      s.rssi = rssi;
      s.address = address;
      s.lastSeenMs = nowMs;
      s.count++;
      return s;
    }
    if (this.#byKey.size >= this.#max) {
      const oldest = this.#byKey.keys().next();
      if (!oldest.done) {
        this.#byKey.delete(oldest.value);
        this.#evicted++;
      }
    }
    const fresh: Sighting = { key, frame, rssi, address, firstSeenMs: nowMs, lastSeenMs: nowMs, count: 1 };
    this.#byKey.set(key, fresh);
    return fresh;
  }

  get(key: string): Sighting | undefined {
    return this.#byKey.get(key);
  }

  get size(): number {
    return this.#byKey.size;
  }

  /** How many entries were dropped to stay within maxEntries. */
  get evicted(): number {
    return this.#evicted;
  }

  values(): IterableIterator<Sighting> {
    return this.#byKey.values();
  }

  /** Forgets beacons not seen since `nowMs - maxAgeMs`; returns how many were forgotten. */
  prune(nowMs: number, maxAgeMs: number): number {
    let n = 0;
    for (const [key, s] of this.#byKey) {
      if (nowMs - s.lastSeenMs > maxAgeMs) {
        this.#byKey.delete(key);
        n++;
      }
    }
    return n;
  }
}
