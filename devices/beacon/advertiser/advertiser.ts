/**
 * The gateway as a shake beacon: an iBeacon (WeChat shake UUID by default)
 * with a configured major and a minor that rotates every window
 * (rotating-id.ts), advertised through bleno. At each window boundary the
 * advertisement is set again with the new minor.
 *
 * bleno is behind the `BlenoLike` interface and loaded only when the
 * advertiser starts (`loadBleno`), so tests pass a fake and check the
 * advertisement bytes it would hand to `startAdvertisingWithEIRData`, and a
 * gateway without an adapter gets a BleUnavailable error naming what is
 * missing. Advertising and scanning on one adapter can interfere
 * (REFERENCE.md "BLE scanning"); give the advertiser its own adapter where
 * the scanner matters.
 */
import { EventEmitter } from 'node:events';
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import { encodeAdvertisement } from '../encode.ts';
import { type RotatingMinor, WECHAT_SHAKE_UUID } from '../rotating-id.ts';
import { bleUnavailable } from '../scanner/load.ts';

/** The part of bleno's peripheral API the advertiser uses. */
export interface BlenoLike {
  readonly state: string;
  on(event: 'stateChange', listener: (state: string) => void): unknown;
  on(event: 'advertisingStartError', listener: (err: Error) => void): unknown;
  removeListener(event: 'stateChange', listener: (state: string) => void): unknown;
  removeListener(event: 'advertisingStartError', listener: (err: Error) => void): unknown;
  startAdvertisingWithEIRData(
    advertisementData: Buffer,
    scanData: Buffer | null,
    callback?: (err?: Error | null) => void,
  ): void;
  stopAdvertising(callback?: () => void): void;
}

/**
 * Imports @abandonware/bleno (it opens the HCI socket while loading).
 * Rejects with BleUnavailable when Bluetooth is not usable.
 */
export async function loadBleno(): Promise<BlenoLike> {
  try {
    const specifier = '@abandonware/bleno';
    const mod = (await import(specifier)) as { default: BlenoLike };
    return mod.default;
  } catch (err) {
    throw bleUnavailable(err, 'bleno');
  }
}

export interface ShakeBeaconAdvertiserOptions {
  /** A bleno instance, or a loader called once in start(). */
  bleno: BlenoLike | (() => Promise<BlenoLike>);
  /** Proximity UUID. Default the WeChat shake UUID FDA50693-A4E2-4FB1-AFCF-C6EB07647825. */
  uuid?: string;
  major: number;
  /** A fixed minor, or a rotation (the minor changes every window). */
  minor: number | RotatingMinor;
  /** Calibrated RSSI at 1 m, dBm. Default -59. */
  measuredPower?: number;
  clock?: () => number;
  /** Re-advertise at each window boundary by timer. Default true; false leaves refresh() to the caller. */
  schedule?: boolean;
  poweredOnTimeoutMs?: number;
  commandTimeoutMs?: number;
}

export interface Advertisement {
  /** The advertising data (AD structures: flags, iBeacon manufacturer data). */
  data: Buffer;
  uuid: string;
  major: number;
  minor: number;
  measuredPower: number;
  /** When the minor changes next (Unix ms), or null for a fixed minor. */
  nextChangeAt: number | null;
}

export interface ShakeBeaconAdvertiserEvents {
  advertising: [ad: Advertisement & { at: number }];
  error: [err: Error];
}

export class ShakeBeaconAdvertiser extends EventEmitter<ShakeBeaconAdvertiserEvents> {
  readonly #source: ShakeBeaconAdvertiserOptions['bleno'];
  readonly #uuid: string;
  readonly #major: number;
  readonly #minor: number | RotatingMinor;
  readonly #power: number;
  readonly #clock: () => number;
  readonly #schedule: boolean;
  readonly #poweredOnTimeoutMs: number;
  readonly #commandTimeoutMs: number;
  #bleno: BlenoLike | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #current: Advertisement | undefined;

  constructor(opts: ShakeBeaconAdvertiserOptions) {
    super();
    this.#source = opts.bleno;
    this.#uuid = (opts.uuid ?? WECHAT_SHAKE_UUID).toUpperCase();
    this.#major = opts.major;
    this.#minor = opts.minor;
    this.#power = opts.measuredPower ?? -59;
    this.#clock = opts.clock ?? Date.now;
    this.#schedule = opts.schedule ?? true;
    this.#poweredOnTimeoutMs = opts.poweredOnTimeoutMs ?? 10_000;
    this.#commandTimeoutMs = opts.commandTimeoutMs ?? 5000;
    // Validate the fields now (encoders throw BeaconFieldInvalid naming the field).
    this.advertisementAt(this.#clock());
  }

  /** The advertisement the gateway sends at `now` (pure; what start()/refresh() hand to bleno). */
  advertisementAt(now: number): Advertisement {
    const rotating = typeof this.#minor !== 'number';
    const minor = typeof this.#minor === 'number' ? this.#minor : this.#minor.currentMinor(now);
    const data = encodeAdvertisement({
      kind: 'ibeacon',
      uuid: this.#uuid,
      major: this.#major,
      minor,
      measuredPower: this.#power,
    });
    return {
      data,
      uuid: this.#uuid,
      major: this.#major,
      minor,
      measuredPower: this.#power,
      nextChangeAt: rotating ? (this.#minor as RotatingMinor).nextBoundary(now) : null,
    };
  }

  /** What is on air now, if advertising. */
  get current(): Advertisement | undefined {
    return this.#current;
  }

  /** Loads bleno, waits for the adapter and starts advertising. Rejects with BleUnavailable without one. */
  async start(): Promise<void> {
    if (this.#running) return;
    let bleno: BlenoLike;
    try {
      bleno = this.#bleno ??= typeof this.#source === 'function' ? await this.#source() : this.#source;
    } catch (err) {
      throw bleUnavailable(err, 'bleno');
    }
    await this.#poweredOn(bleno);
    this.#running = true;
    try {
      await this.refresh();
    } catch (err) {
      this.#running = false;
      throw err;
    }
  }

  /**
   * Sets the advertisement for `now` (the new minor after a window
   * boundary) and schedules the next change.
   */
  async refresh(now: number = this.#clock()): Promise<Advertisement> {
    const bleno = this.#bleno;
    if (!bleno || !this.#running)
      throw new VendgateError(ErrorCode.BleUnavailable, 'the advertiser is not started');
    const ad = this.advertisementAt(now);
    await this.#setAdvertisement(bleno, ad.data);
    this.#current = ad;
    this.emit('advertising', { ...ad, at: now });
    this.#scheduleNext(ad, now);
    return ad;
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const bleno = this.#bleno;
    this.#current = undefined;
    if (!bleno) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, this.#commandTimeoutMs);
      bleno.stopAdvertising(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  #scheduleNext(ad: Advertisement, now: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#schedule || ad.nextChangeAt === null) return;
    // A little past the boundary, so the clock is surely in the new window.
    this.#timer = setTimeout(
      () => {
        this.refresh().catch((err: unknown) => {
          if (this.listenerCount('error') > 0)
            this.emit('error', err instanceof Error ? err : new Error(String(err)));
        });
      },
      Math.max(0, ad.nextChangeAt - now) + 50,
    );
    this.#timer.unref();
  }

  #setAdvertisement(bleno: BlenoLike, data: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => {
        clearTimeout(t);
        bleno.removeListener('advertisingStartError', onError);
        if (err) reject(bleUnavailable(err, 'bleno'));
        else resolve();
      };
      // bleno reports a failed start as 'advertisingStartError' and never calls back.
      const onError = (err: Error) => done(err);
      const t = setTimeout(
        () => done(new Error(`advertising did not start within ${this.#commandTimeoutMs} ms`)),
        this.#commandTimeoutMs,
      );
      bleno.on('advertisingStartError', onError);
      try {
        bleno.startAdvertisingWithEIRData(data, null, (err) => done(err));
      } catch (err) {
        done(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  async #poweredOn(bleno: BlenoLike): Promise<void> {
    if (bleno.state === 'poweredOn') return;
    const state = await new Promise<string>((resolve) => {
      let last = bleno.state;
      const done = (s: string) => {
        clearTimeout(t);
        bleno.removeListener('stateChange', onState);
        resolve(s);
      };
      const onState = (s: string) => {
        last = s;
        if (s === 'poweredOn' || s === 'unsupported' || s === 'unauthorized') done(s);
      };
      const t = setTimeout(() => done(last), this.#poweredOnTimeoutMs);
      bleno.on('stateChange', onState);
    });
    if (state !== 'poweredOn') {
      throw new VendgateError(
        ErrorCode.BleUnavailable,
        `BLE is unavailable for advertising: adapter state is ${state}`,
        { state, lib: 'bleno' },
      );
    }
  }
}

export interface ShakeAdvertiserConfig {
  enabled: boolean;
  uuid?: string;
  major: number;
  minor: number | RotatingMinor;
  measuredPower?: number;
}

/**
 * The advertiser for a configuration, with the real bleno loaded lazily; null
 * when advertising is not configured (bleno is then never imported).
 */
export function createShakeAdvertiser(
  config: ShakeAdvertiserConfig | undefined,
  opts: { bleno?: BlenoLike | (() => Promise<BlenoLike>); clock?: () => number } = {},
): ShakeBeaconAdvertiser | null {
  if (!config?.enabled) return null;
  const o: ShakeBeaconAdvertiserOptions = {
    bleno: opts.bleno ?? loadBleno,
    major: config.major,
    minor: config.minor,
  };
  if (config.uuid !== undefined) o.uuid = config.uuid;
  if (config.measuredPower !== undefined) o.measuredPower = config.measuredPower;
  if (opts.clock) o.clock = opts.clock;
  return new ShakeBeaconAdvertiser(o);
}
