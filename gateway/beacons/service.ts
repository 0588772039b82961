/**
 * The BLE beacon service: the gateway side of flow 3 ("shake for a
 * coupon"). It builds, from the `ble` config section:
 *
 * - the BeaconFleet of the site's configured beacons (presence with
 *   hysteresis, RSSI and distance, TLM health, clone detection);
 * - the scanner feeding it (noble on the local adapter, loaded lazily only
 *   when `ble.scanner.enabled`; or, when `ble.simulate`, the noble of a
 *   simulated radio the caller injects: this module never loads simulator
 *   code, the composition root decides whether one exists);
 * - the coupon engine's BeaconVerifier: rotating ids by window, static ids
 *   by membership and, while the scanner runs, by having been seen near the
 *   time of the shake and not being suspected cloned;
 * - optionally the gateway's own shake-beacon advertiser (bleno, lazily).
 *
 * Fleet events go to the platform through the outbox, each in its own
 * transaction, followed by notify(): `beacon.found`, `beacon.lost`,
 * `beacon.health` (telemetry; at most one per beacon per healthEveryMs plus
 * the first one carrying telemetry) and `beacon.clone_suspected` (critical).
 *
 * BLE is optional: without an adapter the scanner's BleUnavailable (7001) is
 * logged once, claims are verified by membership, and everything else runs.
 */

import type { EventData, EventType } from '../../contract/events.ts';
import { EVENT_CLASS } from '../../contract/events.ts';
import { ErrorCode, type ErrorCodeValue, VendgateError } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import {
  type BlenoLike,
  createShakeAdvertiser,
  type ShakeBeaconAdvertiser,
} from '../../devices/beacon/advertiser/advertiser.ts';
import { BeaconFleet, type FleetBeaconConfig } from '../../devices/beacon/fleet/fleet.ts';
import {
  canonicalBeaconKey,
  type RotatingBeaconEntry,
  RotatingBeaconVerifier,
  RotatingMinor,
} from '../../devices/beacon/rotating-id.ts';
import { bleUnavailable } from '../../devices/beacon/scanner/load.ts';
import { createBeaconScanner, type NobleBeaconScanner } from '../../devices/beacon/scanner/scanner.ts';
import type { BeaconScannerStats, NobleLike } from '../../devices/beacon/scanner/types.ts';
import { type BeaconVerdict, type BeaconVerifier, StaticBeaconVerifier } from '../coupons/verifier.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { Db } from '../store/db.ts';
import type { BleConfig } from './config.ts';

/** A beacon the simulated radio should make advertise: what the service knows of each configured one. */
export interface SimulatedBeacon {
  /** Canonical beacon id (`ibeacon:<UUID>:<major>:<minor>`, minor 0 with a rotation; `eddystone-uid:...`). */
  id: string;
  name: string;
  /** For a rotating iBeacon: the rotation the beacon follows. */
  rotation?: RotatingMinor;
  /** RSSI at 1 m. */
  measuredPower?: number;
}

/**
 * The port of a simulated radio for `ble.simulate`: a noble that hears
 * simulated beacons, and the simulated time the scanner and fleet must use.
 */
export interface SimulatedRadio {
  readonly noble: NobleLike;
  now(): number;
  stop(): void;
}

/** Builds the simulated radio for the configured beacons, its time starting at `start` (Unix ms). */
export type SimulatedRadioFactory<R extends SimulatedRadio = SimulatedRadio> = (site: {
  beacons: readonly SimulatedBeacon[];
  start: number;
}) => R;

export interface BeaconServiceOptions<R extends SimulatedRadio = SimulatedRadio> {
  config: BleConfig;
  db: Db;
  outbox: Outbox;
  /** Wakes the platform link after events were queued. */
  notify: () => void;
  log: Log;
  /** Time for the scanner, the fleet and the advertiser. Default Date.now; with `simulate`, the simulated site's time. */
  clock?: () => number;
  /** Where `secretEnv` names are looked up. Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * More beacon ids accepted by membership alone (e.g. `coupons.beacons`).
   * Ids also in `ble.beacons` get the presence checks.
   */
  staticIds?: readonly string[];
  /** Seam for tests: the noble the scanner uses (the scanner is then created even if not enabled). */
  nobleForTests?: NobleLike | (() => Promise<NobleLike>);
  /** Seam for tests: the bleno the advertiser uses. */
  blenoForTests?: BlenoLike | (() => Promise<BlenoLike>);
  /**
   * Required with `simulate`: makes the simulated radio. Production code
   * has none to give; the demo and tests pass the beacon simulator's.
   */
  simulatedRadio?: SimulatedRadioFactory<R>;
}

/** Where scanning stands: not configured, running, or no usable adapter. */
export type ScannerState = 'off' | 'starting' | 'scanning' | 'unavailable' | 'stopped';

export interface BeaconServiceStatus {
  scanner: ScannerState;
  simulated: boolean;
  scannerStats: BeaconScannerStats | null;
  advertiser: { state: 'off' | 'starting' | 'advertising' | 'unavailable' | 'stopped'; minor: number | null };
  beacons: ReturnType<BeaconFleet['list']>;
}

export interface BeaconService<R extends SimulatedRadio = SimulatedRadio> {
  /** For the coupon engine. */
  readonly verifier: BeaconVerifier;
  readonly fleet: BeaconFleet;
  /** The scanner, or null when scanning is off or the adapter is unavailable. */
  readonly scanner: NobleBeaconScanner | null;
  readonly advertiser: ShakeBeaconAdvertiser | null;
  /** The simulated radio when `simulate` is on. */
  readonly simulation: R | null;
  /** Settles once the scanner started, or failed to ('unavailable'), or was never configured ('off'). */
  readonly ready: Promise<ScannerState>;
  /** The service's clock (the simulated time with `simulate`). */
  now(): number;
  status(): BeaconServiceStatus;
  stop(): Promise<void>;
}

const MIN_SECRET_BYTES = 16;

function secretFrom(env: Readonly<Record<string, string | undefined>>, name: string, what: string): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new VendgateError(
      ErrorCode.ConfigInvalid,
      `${what}: the environment variable ${name} (its rotation secret) is not set`,
      { secretEnv: name },
    );
  }
  if (Buffer.byteLength(value, 'utf8') < MIN_SECRET_BYTES) {
    throw new VendgateError(
      ErrorCode.ConfigInvalid,
      `${what}: the secret in ${name} is shorter than ${MIN_SECRET_BYTES} bytes`,
      { secretEnv: name },
    );
  }
  return value;
}

/** The coupon engine's verdict from the rotating verifier's (whose codes come from the same catalogue). */
function asVerdict(v: ReturnType<RotatingBeaconVerifier['verify']>): BeaconVerdict {
  return v.ok ? v : { ok: false, code: v.code as ErrorCodeValue, reason: v.reason };
}

interface SiteVerifierParts {
  live: RotatingBeaconVerifier;
  membership: RotatingBeaconVerifier;
  extra: StaticBeaconVerifier | null;
  scanning: () => boolean;
  fleet: BeaconFleet;
}

/**
 * Chooses how much to check by whether the scanner is running: with it,
 * static beacons must have been seen near the shake (and not be suspected
 * cloned); without it, membership is all there is to go on (but a clone
 * suspicion from before the scanner stopped still counts).
 */
class SiteBeaconVerifier implements BeaconVerifier {
  readonly #p: SiteVerifierParts;

  constructor(parts: SiteVerifierParts) {
    this.#p = parts;
  }

  verify(beaconId: string, seenAt: number): BeaconVerdict {
    const p = this.#p;
    let v: BeaconVerdict;
    if (p.scanning()) {
      v = asVerdict(p.live.verify(beaconId, seenAt));
    } else {
      v = asVerdict(p.membership.verify(beaconId, seenAt));
      if (v.ok && p.fleet.cloneSuspected(beaconId)) {
        v = {
          ok: false,
          code: ErrorCode.CouponBeaconStale,
          reason: `beacon ${beaconId} is suspected cloned (two signal sources seen for one id); claims are refused until it is cleared`,
        };
      }
    }
    if (!v.ok && v.code === ErrorCode.CouponBeaconUnknown && p.extra) {
      const e = p.extra.verify(beaconId, seenAt);
      if (e.ok) return e;
    }
    return v;
  }
}

/**
 * Starts the beacon service. Resolves once everything is built (the
 * simulated radio too when `simulate` is on); the scanner and the advertiser
 * start in the background (`ready`). Rejects only on configuration errors
 * (ConfigInvalid 1001: a rotation secret missing from the environment, or
 * `simulate` without a simulated radio to hear).
 */
export async function startBeaconService<R extends SimulatedRadio = SimulatedRadio>(
  opts: BeaconServiceOptions<R>,
): Promise<BeaconService<R>> {
  const { config, db, outbox, notify, log } = opts;
  const env = opts.env ?? process.env;
  const t = config.fleet;

  // ------------------------------------------------------------ identities
  const fleetBeacons: FleetBeaconConfig[] = [];
  const staticIds: string[] = [];
  const rotating: RotatingBeaconEntry[] = [];
  const simBeacons: SimulatedBeacon[] = [];
  for (const b of config.beacons) {
    const k = canonicalBeaconKey(b.id);
    if (!k) throw new VendgateError(ErrorCode.ConfigInvalid, `ble.beacons: not a beacon id: ${b.id}`);
    let rotation: RotatingMinor | undefined;
    let match: FleetBeaconConfig['match'];
    if (k.kind === 'ibeacon' && b.rotating) {
      rotation = new RotatingMinor({
        secret: secretFrom(env, b.rotating.secretEnv, `ble.beacons ${b.id} (${b.name})`),
        beaconKey: b.rotating.beaconKey ?? String(k.major),
        windowSec: b.rotating.windowSec,
      });
      match = { kind: 'ibeacon', uuid: k.uuid, major: k.major, rotation };
      rotating.push({ uuid: k.uuid, major: k.major, rotation, canonicalId: k.key });
    } else if (k.kind === 'ibeacon') {
      match = { kind: 'ibeacon', uuid: k.uuid, major: k.major, minor: k.minor };
      staticIds.push(k.key);
    } else {
      const [, namespace, instance] = k.key.split(':');
      match = { kind: 'eddystone-uid', namespace: namespace!, instance: instance! };
      staticIds.push(k.key);
    }
    const fb: FleetBeaconConfig = { id: k.key, name: b.name, match };
    if (b.location !== undefined) fb.location = b.location;
    if (b.measuredPower !== undefined) fb.measuredPower = b.measuredPower;
    fleetBeacons.push(fb);
    simBeacons.push({
      id: k.key,
      name: b.name,
      ...(rotation ? { rotation } : {}),
      ...(b.measuredPower !== undefined ? { measuredPower: b.measuredPower } : {}),
    });
  }

  const adv = config.advertiser;
  let advRotation: RotatingMinor | undefined;
  if (adv.enabled) {
    advRotation = new RotatingMinor({
      secret: secretFrom(env, adv.secretEnv, 'ble.advertiser'),
      beaconKey: String(adv.major),
      windowSec: adv.windowSec,
    });
    rotating.push({ uuid: adv.uuid.toUpperCase(), major: adv.major, rotation: advRotation });
  }

  // ------------------------------------------------------------ simulated radio
  let site: R | null = null;
  if (config.simulate) {
    if (!opts.simulatedRadio) {
      throw new VendgateError(
        ErrorCode.ConfigInvalid,
        'ble.simulate is on but this process has no beacon simulator to hear: it is for `vendgate demo` and tests; set ble.simulate to false and enable ble.scanner for a real adapter',
        { field: 'ble.simulate' },
      );
    }
    site = opts.simulatedRadio({ beacons: simBeacons, start: (opts.clock ?? Date.now)() });
    log.warn(
      { beacons: simBeacons.length },
      'ble.simulate is on: the scanner hears the beacon simulator, not a radio',
    );
  }
  const radio = site;
  const clock = radio ? () => radio.now() : (opts.clock ?? Date.now);

  // ------------------------------------------------------------ fleet -> outbox
  const fleet = new BeaconFleet({
    beacons: fleetBeacons,
    clock,
    foundAfterSightings: t.foundAfterSightings,
    foundWithinMs: t.foundWithinMs,
    lostAfterMs: t.lostAfterMs,
    pathLossExponent: t.pathLossExponent,
    healthEveryMs: t.healthEveryMs,
    clone: { holdMs: t.cloneHoldMs, cooldownMs: t.cloneReportEveryMs },
  });

  const report = <T extends EventType>(type: T, data: EventData<T>): void => {
    try {
      db.transaction(() => {
        if (EVENT_CLASS[type] === 'critical') outbox.append(type, data);
        else outbox.tryAppend(type, data);
      })();
      notify();
    } catch (err) {
      log.error({ err, type }, `could not queue ${type}`);
    }
  };
  const ms = (x: number) => Math.max(0, Math.round(x));
  const info = (s: { name: string; location?: string | undefined }) =>
    s.location === undefined ? { name: s.name } : { name: s.name, location: s.location };

  fleet.on('found', (s) => {
    log.info({ beaconId: s.id, name: s.name, rssi: s.rssi, distanceM: s.distanceM }, 'beacon found');
    report('beacon.found', {
      beaconId: s.id,
      ...info(s),
      at: ms(s.lastSeenAt ?? clock()),
      ...(s.address === undefined ? {} : { address: s.address }),
      rssi: s.rssi,
      distanceM: s.distanceM,
    });
  });
  fleet.on('lost', (s, silentForMs) => {
    log.warn({ beaconId: s.id, name: s.name, silentForMs }, 'beacon lost');
    report('beacon.lost', {
      beaconId: s.id,
      ...info(s),
      lastSeenAt: ms(s.lastSeenAt ?? clock()),
      silentForMs: ms(silentForMs),
    });
  });
  const lastHealth = new Map<string, { at: number; battery: boolean }>();
  fleet.on('health', (h) => {
    const prev = lastHealth.get(h.id);
    const firstTelemetry = h.battery !== null && prev !== undefined && !prev.battery;
    if (prev && h.at - prev.at < t.healthEveryMs && !firstTelemetry) return;
    lastHealth.set(h.id, { at: h.at, battery: h.battery !== null });
    const s = fleet.get(h.id);
    report('beacon.health', {
      beaconId: h.id,
      ...info({ name: h.name, location: s?.location }),
      at: ms(h.at),
      battery: h.battery,
      temperatureC: h.temperatureC,
      rssi: h.rssi,
      distanceM: h.distanceM,
      advCount: s?.advCount ?? null,
      uptimeS: s?.uptimeS ?? null,
      reboots: s?.reboots ?? 0,
    });
  });
  fleet.on('clone-suspected', (c) => {
    const s = fleet.get(c.id);
    log.error(
      { beaconId: c.id, name: c.name, kind: c.kind, addresses: c.addresses },
      `beacon suspected cloned: ${c.reason}`,
    );
    report('beacon.clone_suspected', {
      beaconId: c.id,
      ...info({ name: c.name, location: s?.location }),
      at: ms(c.at),
      kind: c.kind,
      reason: c.reason.slice(0, 512),
      addresses: c.addresses.slice(0, 16),
    });
  });

  // ------------------------------------------------------------ scanner
  const sc = config.scanner;
  const nobleSource = opts.nobleForTests ?? site?.noble;
  const scanner = createBeaconScanner(
    {
      enabled: sc.enabled || config.simulate || opts.nobleForTests !== undefined,
      ...(sc.hciDeviceId === undefined ? {} : { hciDeviceId: sc.hciDeviceId }),
      silentMs: sc.silentMs,
      ...(sc.minRssi === undefined ? {} : { minRssi: sc.minRssi }),
    },
    { ...(nobleSource ? { noble: nobleSource } : {}), clock },
  );
  let scannerState: ScannerState = scanner ? 'starting' : 'off';
  let stopped = false;
  const detach = scanner ? fleet.attach(scanner) : () => {};
  if (scanner) {
    let lastError: string | undefined;
    scanner.on('error', (err) => {
      if (err.message === lastError) return; // one line per distinct trouble, not per retry
      lastError = err.message;
      log.warn({ err }, `BLE scanner: ${err.message}`);
    });
    scanner.on('restart', (r) => {
      lastError = undefined;
      log.info(r, r.cause === 'silent' ? 'BLE scan was silent; restarted it' : 'BLE adapter back; scanning');
    });
  }
  const ready: Promise<ScannerState> = scanner
    ? scanner.start().then(
        async () => {
          if (stopped) {
            await scanner.stop();
            return 'stopped';
          }
          scannerState = 'scanning';
          log.info(
            { beacons: fleetBeacons.length, simulated: site !== null, hciDeviceId: sc.hciDeviceId },
            'BLE scanner running',
          );
          return 'scanning';
        },
        (err: unknown) => {
          const e = bleUnavailable(err, 'noble', sc.hciDeviceId);
          scannerState = stopped ? 'stopped' : 'unavailable';
          detach();
          if (!stopped) {
            log.error(
              { err: e, code: e.code },
              `${e.message}. The gateway runs on without BLE scanning: shake claims are checked against the configured beacon list only.`,
            );
          }
          return scannerState;
        },
      )
    : Promise.resolve<ScannerState>('off');

  // ------------------------------------------------------------ verifier
  const verifier = new SiteBeaconVerifier({
    live: new RotatingBeaconVerifier({
      static: staticIds,
      rotating,
      presence: fleet,
      recentMs: t.recentMs,
    }),
    membership: new RotatingBeaconVerifier({ static: staticIds, rotating }),
    extra: opts.staticIds && opts.staticIds.length > 0 ? new StaticBeaconVerifier(opts.staticIds) : null,
    scanning: () => scannerState === 'scanning' && scanner !== null && scanner.stats().scanning,
    fleet,
  });

  // ------------------------------------------------------------ advertiser
  let advState: BeaconServiceStatus['advertiser']['state'] = 'off';
  let advertiser: ShakeBeaconAdvertiser | null = null;
  if (adv.enabled && advRotation) {
    const bleno = opts.blenoForTests ?? (site ? simulatedBleno() : undefined);
    advertiser = createShakeAdvertiser(
      {
        enabled: true,
        uuid: adv.uuid,
        major: adv.major,
        minor: advRotation,
        measuredPower: adv.measuredPower,
      },
      { ...(bleno ? { bleno } : {}), clock },
    );
  }
  if (advertiser) {
    const a = advertiser;
    advState = 'starting';
    a.on('advertising', (ad) =>
      log.info(
        { major: ad.major, minor: ad.minor, nextChangeAt: ad.nextChangeAt },
        'advertising as a shake beacon',
      ),
    );
    a.on('error', (err) => log.warn({ err }, `BLE advertiser: ${err.message}`));
    a.start().then(
      async () => {
        advState = 'advertising';
        if (stopped) {
          advState = 'stopped';
          await a.stop();
        }
      },
      (err: unknown) => {
        const e = bleUnavailable(err, 'bleno');
        advState = stopped ? 'stopped' : 'unavailable';
        if (!stopped)
          log.error({ err: e, code: e.code }, `${e.message}. The gateway runs on without advertising.`);
      },
    );
  }

  // ------------------------------------------------------------ timers
  const tickEvery = Math.min(1000, Math.max(200, Math.floor(t.lostAfterMs / 5)));
  const ticker = setInterval(() => {
    try {
      fleet.tick(clock());
    } catch (err) {
      log.error({ err }, 'beacon fleet tick failed');
    }
  }, tickEvery);
  ticker.unref();

  return {
    verifier,
    fleet,
    get scanner() {
      return scannerState === 'unavailable' ? null : scanner;
    },
    advertiser,
    simulation: site,
    ready,
    now: clock,
    status() {
      return {
        scanner: scannerState,
        simulated: site !== null,
        scannerStats: scanner && scannerState !== 'unavailable' ? scanner.stats() : null,
        advertiser: { state: advState, minor: advertiser?.current?.minor ?? null },
        beacons: fleet.list(),
      };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(ticker);
      detach();
      if (scannerState === 'scanning') await scanner?.stop();
      if (scannerState !== 'unavailable' && scannerState !== 'off') scannerState = 'stopped';
      if (advState === 'advertising') await advertiser?.stop();
      site?.stop();
    },
  };
}

/** With `simulate`: a bleno stand-in that is powered on and accepts every advertisement. */
function simulatedBleno(): BlenoLike {
  return {
    state: 'poweredOn',
    on: () => undefined,
    removeListener: () => undefined,
    startAdvertisingWithEIRData: (_data, _scan, cb) => cb?.(null),
    stopAdvertising: (cb) => cb?.(),
  };
}
