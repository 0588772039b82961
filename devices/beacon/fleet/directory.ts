/**
 * Which configured beacon a frame or an id belongs to. iBeacons match by
 * UUID, major and minor; Eddystone-UID beacons by namespace and instance;
 * a rotating iBeacon (WeChat Shake style: the minor changes every window,
 * derived from a shared secret) by its UUID, major and a minor valid for
 * the current window or the one before or after. Ids are looked up in any
 * spelling canonicalBeaconKey accepts.
 */
import type { BeaconFrame } from '../frames.ts';
import { canonicalBeaconKey, type RotatingMinor } from '../rotating-id.ts';

export type FleetBeaconMatch =
  | { kind: 'ibeacon'; uuid: string; major: number; minor: number }
  | { kind: 'ibeacon'; uuid: string; major: number; rotation: RotatingMinor }
  | { kind: 'eddystone-uid'; namespace: string; instance: string };

/** What the directory needs of a beacon's configuration. */
export interface DirectoryEntry {
  /** The beacon's id; default derived from `match` (see beaconId). */
  id?: string;
  match: FleetBeaconMatch;
}

interface Rotating<T> {
  item: T;
  rotation: RotatingMinor;
  /** The window the cached minors are for, -1 before the first frame. */
  cacheWindow: number;
  cache: Set<number>;
}

/**
 * The id of a configured beacon: its own, or `ibeacon:<UUID>:<major>:<minor>`,
 * `eddystone-uid:<namespace>:<instance>`, and for a rotating iBeacon
 * `ibeacon:<UUID>:<major>:0` (minor 0 is never advertised).
 */
export function beaconId(entry: DirectoryEntry): string {
  return entry.id ?? defaultId(entry.match);
}

function defaultId(m: FleetBeaconMatch): string {
  if (m.kind === 'eddystone-uid')
    return `eddystone-uid:${m.namespace.toLowerCase()}:${m.instance.toLowerCase()}`;
  if ('rotation' in m) return `ibeacon:${m.uuid.toUpperCase()}:${m.major}:0`;
  return `ibeacon:${m.uuid.toUpperCase()}:${m.major}:${m.minor}`;
}

/** Configured beacons by frame key and by id, each carrying the caller's `T`. */
export class BeaconDirectory<T> {
  readonly #byKey = new Map<string, T>();
  readonly #byId = new Map<string, T>();
  readonly #rotating = new Map<string, Rotating<T>[]>();

  /** Adds a beacon; throws RangeError when its id or its frame key is configured already. */
  add(entry: DirectoryEntry, item: T): void {
    const m = entry.match;
    const id = beaconId(entry);
    if (this.#byId.has(id)) throw new RangeError(`beacon id ${id} is configured twice`);
    this.#byId.set(id, item);
    const canon = canonicalBeaconKey(id);
    if (canon) this.#byId.set(canon.key, item);
    if (m.kind === 'ibeacon' && 'rotation' in m) {
      const key = `${m.uuid.toUpperCase()}:${m.major}`;
      const list = this.#rotating.get(key) ?? [];
      list.push({ item, rotation: m.rotation, cacheWindow: -1, cache: new Set() });
      this.#rotating.set(key, list);
      return;
    }
    const key =
      m.kind === 'eddystone-uid'
        ? `eddystone-uid:${m.namespace.toLowerCase()}:${m.instance.toLowerCase()}`
        : `ibeacon:${m.uuid.toUpperCase()}:${m.major}:${m.minor}`;
    if (this.#byKey.has(key)) throw new RangeError(`beacon ${key} is configured twice`);
    this.#byKey.set(key, item);
  }

  /** The beacon with this id, in any spelling canonicalBeaconKey accepts. */
  lookup(id: string): T | undefined {
    return this.#byId.get(id) ?? this.#byId.get(canonicalBeaconKey(id)?.key ?? '');
  }

  /** The beacon an iBeacon or Eddystone-UID frame received at `at` comes from; TLM frames carry no id. */
  match(frame: BeaconFrame, at: number): T | undefined {
    if (frame.kind === 'ibeacon') {
      const item = this.#byKey.get(`ibeacon:${frame.uuid}:${frame.major}:${frame.minor}`);
      if (item) return item;
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
        if (e.cache.has(frame.minor)) return e.item;
      }
      return undefined;
    }
    if (frame.kind === 'eddystone-uid')
      return this.#byKey.get(`eddystone-uid:${frame.namespace}:${frame.instance}`);
    return undefined;
  }
}
