/**
 * A simulated beacon site for the gateway's `ble.simulate` mode (the demo
 * and the end-to-end tests): the configured beacons advertise in a
 * BeaconWorld, visitors walk between them and the gateway (their bodies dip
 * the signal), Eddystone beacons send telemetry with a draining battery, and
 * after a while a clone of one beacon appears from another address. The
 * world's advertisements reach a VirtualHciController, and noble's own HCI
 * stack runs on it (createNobleOnHciSocket), so the gateway's scanner takes
 * the same code path as on an adapter.
 *
 * The world follows the wall clock (optionally faster, for tests); its time
 * (`now()`) is the clock the scanner and the fleet must use.
 *
 * Loaded only when `ble.simulate` is on: main/ imports it lazily and injects
 * it into the beacon service as its simulated radio (SimulatedRadioFactory),
 * so production code never imports simulator code.
 */
import { canonicalBeaconKey, type RotatingMinor } from '../../devices/beacon/rotating-id.ts';
import { createNobleOnHciSocket } from '../../devices/beacon/scanner/noble-hci.ts';
import type { NobleLike } from '../../devices/beacon/scanner/types.ts';
import { VirtualHciController } from './hci-controller.ts';
import { fixedDistance, type RssiProfile, withVisitors } from './rssi.ts';
import { BeaconWorld, type SimBeacon, type SimBeaconSpec } from './world.ts';

export interface DemoSiteBeacon {
  /** `ibeacon:<UUID>:<major>:<minor>` (minor 0 with a rotation) or `eddystone[-uid]:<ns>:<instance>`. */
  id: string;
  name: string;
  /** For a rotating iBeacon: the rotation the beacon follows. */
  rotation?: RotatingMinor;
  /** RSSI at 1 m. Default -59. */
  measuredPower?: number;
}

export interface DemoSiteTuning {
  /** Simulated ms per wall-clock ms. Default 1 (the world keeps the wall clock's time). */
  speed?: number;
  /** How often the world is advanced, wall-clock ms. Default 100. */
  tickMs?: number;
  seed?: number;
  /** A clone of `cloneOf` starts advertising this long (simulated) after the start; null: never. Default 90 s. */
  cloneAfterMs?: number | null;
  /** The beacon id to clone. Default the first static (non-rotating) beacon. */
  cloneOf?: string;
  /** A visitor walks between each beacon and the gateway about this often (simulated ms). Default 20 s. */
  visitorEveryMs?: number;
  /** Battery drain of Eddystone beacons, mV per simulated hour. Default 40. */
  drainMvPerHour?: number;
}

export interface DemoSiteOptions extends DemoSiteTuning {
  beacons: readonly DemoSiteBeacon[];
  /** Simulated time at the start, Unix ms. Default Date.now(). */
  start?: number;
}

export interface DemoBeaconSite {
  readonly world: BeaconWorld;
  readonly controller: VirtualHciController;
  /** noble on the virtual controller: hand it to the scanner. */
  readonly noble: NobleLike;
  /** The simulated time: the scanner's and the fleet's clock. */
  now(): number;
  /** The clone, once it has appeared. */
  readonly clone: SimBeacon | undefined;
  /** Advances the world by `ms` of simulated time now (tests; the timer does this otherwise). */
  advance(ms: number): Promise<number>;
  stop(): void;
}

/** Deterministic 0..1 from integers (for visitor jitter that does not depend on call order). */
function hash01(a: number, b: number): number {
  let h = (Math.imul(a | 0, 0x9e3779b1) ^ Math.imul(b | 0, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

/** A static beacon shadowed by a visitor about every `everyMs` (with jitter), indefinitely. */
export function periodicVisitors(base: RssiProfile, t0: number, everyMs: number, seed: number): RssiProfile {
  const visitor = (k: number) => ({
    at: t0 + k * everyMs + Math.floor(hash01(seed, k) * everyMs * 0.8),
    durationMs: 1500 + Math.floor(hash01(seed + 1, k) * 2000),
    dipDb: 4 + Math.floor(hash01(seed + 2, k) * 8),
  });
  return (t, rng) => {
    const k = Math.floor((t - t0) / everyMs);
    const near = [k - 1, k, k + 1].filter((x) => x >= 0).map(visitor);
    return withVisitors(base, near)(t, rng);
  };
}

function address(i: number): string {
  return `c0:ff:ee:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
}

/** Builds the world, the controller and noble, and starts following the clock. */
export function startDemoBeaconSite(opts: DemoSiteOptions): DemoBeaconSite {
  const speed = opts.speed ?? 1;
  if (!(speed > 0)) throw new RangeError('speed must be positive');
  const seed = opts.seed ?? 1;
  const controller = new VirtualHciController();
  const world = new BeaconWorld({ controller, seed, start: opts.start ?? Date.now() });
  const t0 = world.now;
  const everyMs = opts.visitorEveryMs ?? 20_000;
  const names = new Map<string, string>();

  opts.beacons.forEach((b, i) => {
    const k = canonicalBeaconKey(b.id);
    if (!k) throw new TypeError(`not a beacon id: ${b.id}`);
    const mp = b.measuredPower ?? -59;
    // Spread the beacons over the shop: 1.5 m, 3 m, 4.5 m, ... from the gateway.
    const base = fixedDistance(1.5 * (1 + (i % 5)), { measuredPower: mp, n: 2.5, noiseDb: 2 });
    const spec: SimBeaconSpec = {
      name: b.name,
      address: address(i + 1),
      rssi: periodicVisitors(base, t0, everyMs, seed * 101 + i),
    };
    if (k.kind === 'ibeacon') {
      spec.ibeacon = b.rotation
        ? { uuid: k.uuid, major: k.major, rotation: b.rotation, measuredPower: mp }
        : { uuid: k.uuid, major: k.major, minor: k.minor, measuredPower: mp };
    } else {
      const [, ns, inst] = k.key.split(':');
      spec.eddystone = { namespace: ns!, instance: inst!, txPower: mp + 41 };
      spec.tlm = {
        batteryMv: 3000 - 40 * i,
        drainMvPerHour: opts.drainMvPerHour ?? 40,
        temperatureC: 21 + i,
        advCount: 50_000 * (i + 1),
        uptimeS: 86_400 * (i + 1),
      };
    }
    world.add(spec);
    names.set(k.key, b.name);
  });

  let cloneOf: string | undefined;
  if (opts.cloneOf !== undefined) {
    const k = canonicalBeaconKey(opts.cloneOf);
    cloneOf = k ? names.get(k.key) : undefined;
    if (!cloneOf) throw new RangeError(`cloneOf ${opts.cloneOf} is not one of the simulated beacons`);
  } else {
    cloneOf = opts.beacons.find((b) => !b.rotation)?.name;
  }
  const cloneAfterMs = opts.cloneAfterMs === undefined ? 90_000 : opts.cloneAfterMs;
  let clone: SimBeacon | undefined;
  const maybeClone = () => {
    if (clone || cloneOf === undefined || cloneAfterMs === null || world.now < t0 + cloneAfterMs) return;
    clone = world.clone(cloneOf, {
      address: 'de:ad:be:ef:00:01',
      rssi: fixedDistance(8, { noiseDb: 3 }),
      tlm: 'reset',
    });
  };

  const { noble, close } = createNobleOnHciSocket(controller);
  let stopped = false;
  const advance = async (ms: number): Promise<number> => {
    if (stopped) return 0;
    // Clone first if due, then play: the clone's first advertisement is in this step.
    maybeClone();
    const n = await world.advance(Math.max(0, Math.round(ms)));
    maybeClone();
    return n;
  };

  let last = Date.now();
  let busy = false;
  const timer = setInterval(() => {
    if (busy || stopped) return;
    const now = Date.now();
    const ms = (now - last) * speed;
    last = now;
    busy = true;
    advance(ms).finally(() => {
      busy = false;
    });
  }, opts.tickMs ?? 100);
  timer.unref();

  return {
    world,
    controller,
    noble,
    now: () => world.now,
    get clone() {
      return clone;
    },
    advance,
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      close();
      controller.close();
    },
  };
}
