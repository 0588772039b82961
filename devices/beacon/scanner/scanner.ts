/**
 * BeaconScanner on noble: scans with duplicates allowed (so every report
 * brings a fresh RSSI; REFERENCE.md "BLE scanning"), decodes each
 * advertisement noble emits with the beacon parsers, filters in the
 * gateway, and restarts a scan that went silent.
 *
 * The noble instance is handed in, or a loader for it, which runs only in
 * start(): on hardware `loadNoble()` (the kernel HCI socket), in tests and
 * the demo `createNobleOnHciSocket(simulatedController)`. Either way the
 * frames come out of noble's 'discover' event.
 */
import { EventEmitter } from 'node:events';
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import type { BeaconFrame } from '../frames.ts';
import { parseNobleAdvertisement } from '../parse.ts';
import { bleUnavailable, loadNoble } from './load.ts';
import type {
  BeaconScanner,
  BeaconScannerEvents,
  BeaconScannerStats,
  NobleLike,
  NoblePeripheralLike,
} from './types.ts';

export interface NobleBeaconScannerOptions {
  /** A noble instance, or a function that loads one (called once, in start()). */
  noble: NobleLike | (() => Promise<NobleLike>);
  /** Time stamps for frames and the watchdog. Default Date.now. */
  clock?: () => number;
  /** Restart the scan when no advertisement (beacon or not) arrived for this long. Default 30 s. */
  silentMs?: number;
  /** How often the watchdog looks. Default min(silentMs / 3, 5 s). 0 disables the timer (call checkWatchdog()). */
  checkEveryMs?: number;
  /** How long start() waits for the adapter to be poweredOn. Default 10 s. */
  poweredOnTimeoutMs?: number;
  /** How long one start/stop scanning command may take. Default 5 s. */
  commandTimeoutMs?: number;
  /** Drop frames weaker than this (dBm). */
  minRssi?: number;
  /** Drop frames this returns false for (e.g. only the site's UUID). */
  filter?: (frame: BeaconFrame, rssi: number, address: string) => boolean;
}

const FATAL_STATES = new Set(['unsupported', 'unauthorized']);

function timeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} did not complete within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

export class NobleBeaconScanner extends EventEmitter<BeaconScannerEvents> implements BeaconScanner {
  readonly #source: NobleLike | (() => Promise<NobleLike>);
  readonly #clock: () => number;
  readonly #silentMs: number;
  readonly #checkEveryMs: number;
  readonly #poweredOnTimeoutMs: number;
  readonly #commandTimeoutMs: number;
  readonly #minRssi: number | undefined;
  readonly #filter: NobleBeaconScannerOptions['filter'];
  #noble: NobleLike | undefined;
  #wanted = false;
  #scanning = false;
  #restarting: Promise<boolean> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastReportAt: number | undefined;
  #lastError: string | undefined;
  #reports = 0;
  #frames = 0;
  #notBeacons = 0;
  #filtered = 0;
  #restarts = 0;

  readonly #onDiscover = (p: NoblePeripheralLike): void => {
    const at = this.#clock();
    this.#reports++;
    this.#lastReportAt = at;
    const r = parseNobleAdvertisement(p.advertisement);
    if (!r.ok) {
      this.#notBeacons++;
      return;
    }
    const address = p.address && p.address !== 'unknown' ? p.address : p.id;
    if (
      (this.#minRssi !== undefined && p.rssi < this.#minRssi) ||
      (this.#filter && !this.#filter(r, p.rssi, address))
    ) {
      this.#filtered++;
      return;
    }
    this.#frames++;
    try {
      this.emit('frame', r, p.rssi, address, at);
    } catch (err) {
      // A listener's bug must not unwind into noble's HCI parser.
      this.#fail(err instanceof Error ? err : new Error(String(err)));
    }
  };

  readonly #onStateChange = (state: string): void => {
    if (!this.#wanted) return;
    if (state === 'poweredOn') {
      if (!this.#scanning) void this.#restart('powered-on', 0);
      return;
    }
    if (this.#scanning) {
      this.#scanning = false;
      this.#fail(
        new VendgateError(
          ErrorCode.BleUnavailable,
          `BLE adapter went ${state}; scanning resumes when it is poweredOn`,
          {
            state,
          },
        ),
      );
    }
  };

  constructor(opts: NobleBeaconScannerOptions) {
    super();
    this.#source = opts.noble;
    this.#clock = opts.clock ?? Date.now;
    this.#silentMs = opts.silentMs ?? 30_000;
    this.#checkEveryMs = opts.checkEveryMs ?? Math.min(this.#silentMs / 3, 5000);
    this.#poweredOnTimeoutMs = opts.poweredOnTimeoutMs ?? 10_000;
    this.#commandTimeoutMs = opts.commandTimeoutMs ?? 5000;
    this.#minRssi = opts.minRssi;
    this.#filter = opts.filter;
    if (!(this.#silentMs > 0)) throw new RangeError('silentMs must be positive');
  }

  /**
   * Loads noble if needed, waits for the adapter, and starts scanning with
   * duplicates allowed. Rejects with BleUnavailable (7001) when there is no
   * usable adapter.
   */
  async start(): Promise<void> {
    if (this.#wanted) return;
    const noble = await this.#load();
    await this.#poweredOn(noble);
    noble.on('discover', this.#onDiscover);
    noble.on('stateChange', this.#onStateChange);
    this.#wanted = true;
    try {
      await timeout(noble.startScanningAsync([], true), this.#commandTimeoutMs, 'start scanning');
    } catch (err) {
      this.#wanted = false;
      this.#detach(noble);
      throw bleUnavailable(err, 'noble');
    }
    this.#scanning = true;
    this.#lastReportAt = this.#clock();
    if (this.#checkEveryMs > 0) {
      this.#timer = setInterval(() => void this.checkWatchdog(), this.#checkEveryMs);
      this.#timer.unref();
    }
  }

  async stop(): Promise<void> {
    const noble = this.#noble;
    this.#wanted = false;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (!noble) return;
    await this.#restarting?.catch(() => false);
    this.#detach(noble);
    if (this.#scanning) {
      this.#scanning = false;
      await timeout(noble.stopScanningAsync(), this.#commandTimeoutMs, 'stop scanning').catch(() => {});
    }
  }

  /**
   * The watchdog: when no advertisement arrived for silentMs, stop and start
   * scanning again (a stalled adapter usually recovers). Resolves true when
   * it restarted. Called by the timer; callable directly (tests, a driver
   * with its own clock).
   */
  checkWatchdog(now: number = this.#clock()): Promise<boolean> {
    if (!this.#wanted || !this.#scanning) return Promise.resolve(false);
    if (this.#restarting) return this.#restarting;
    const silent = now - (this.#lastReportAt ?? now);
    if (silent < this.#silentMs) return Promise.resolve(false);
    return this.#restart('silent', silent);
  }

  stats(): BeaconScannerStats {
    return {
      scanning: this.#scanning,
      reports: this.#reports,
      frames: this.#frames,
      notBeacons: this.#notBeacons,
      filtered: this.#filtered,
      restarts: this.#restarts,
      lastReportAt: this.#lastReportAt,
      lastError: this.#lastError,
    };
  }

  get restarts(): number {
    return this.#restarts;
  }

  // ----------------------------------------------------------------- internals

  async #load(): Promise<NobleLike> {
    if (this.#noble) return this.#noble;
    try {
      this.#noble = typeof this.#source === 'function' ? await this.#source() : this.#source;
    } catch (err) {
      throw bleUnavailable(err, 'noble');
    }
    return this.#noble;
  }

  async #poweredOn(noble: NobleLike): Promise<void> {
    let warning: string | undefined;
    const onWarning = (m: string) => {
      warning = m;
    };
    noble.on('warning', onWarning);
    try {
      let state: string;
      try {
        state = noble.state; // on hardware this opens the HCI socket, and may throw
      } catch (err) {
        throw bleUnavailable(err, 'noble');
      }
      if (state === 'poweredOn') return;
      state = await new Promise<string>((resolve) => {
        let last = state;
        const done = (s: string) => {
          clearTimeout(t);
          noble.removeListener('stateChange', onState);
          resolve(s);
        };
        const onState = (s: string) => {
          last = s;
          if (s === 'poweredOn' || FATAL_STATES.has(s)) done(s);
        };
        const t = setTimeout(() => done(last), this.#poweredOnTimeoutMs);
        noble.on('stateChange', onState);
      });
      if (state !== 'poweredOn') {
        const hint =
          state === 'unauthorized'
            ? 'no permission for the raw HCI socket (needs CAP_NET_RAW)'
            : state === 'unsupported'
              ? 'the adapter does not support Bluetooth Low Energy'
              : state === 'poweredOff'
                ? 'the adapter is powered off or down (`hciconfig hci0 up`, rfkill)'
                : `no adapter answered within ${this.#poweredOnTimeoutMs} ms`;
        throw new VendgateError(
          ErrorCode.BleUnavailable,
          `BLE is unavailable: adapter state is ${state}: ${hint}${warning ? ` (noble: ${warning})` : ''}`,
          { state, warning: warning ?? null },
        );
      }
    } finally {
      noble.removeListener('warning', onWarning);
    }
  }

  #restart(cause: 'silent' | 'powered-on', silent: number): Promise<boolean> {
    const noble = this.#noble;
    if (!noble) return Promise.resolve(false);
    const run = async (): Promise<boolean> => {
      try {
        await timeout(noble.stopScanningAsync(), this.#commandTimeoutMs, 'stop scanning').catch(() => {});
        if (!this.#wanted) return false;
        await timeout(noble.startScanningAsync([], true), this.#commandTimeoutMs, 'start scanning');
        this.#scanning = true;
        this.#restarts++;
        const at = this.#clock();
        this.#lastReportAt = at; // a grace period before the next check
        this.emit('restart', { count: this.#restarts, silentForMs: silent, at, cause });
        return true;
      } catch (err) {
        this.#fail(
          new VendgateError(
            ErrorCode.BleUnavailable,
            `BLE scan restart failed: ${err instanceof Error ? err.message : String(err)}`,
            { cause: cause },
            { cause: err },
          ),
        );
        return false;
      } finally {
        this.#restarting = undefined;
      }
    };
    this.#restarting = run();
    return this.#restarting;
  }

  #detach(noble: NobleLike): void {
    noble.removeListener('discover', this.#onDiscover);
    noble.removeListener('stateChange', this.#onStateChange);
  }

  #fail(err: Error): void {
    this.#lastError = err.message;
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

export interface BeaconScannerConfig {
  enabled: boolean;
  hciDeviceId?: number;
  silentMs?: number;
  minRssi?: number;
}

/**
 * The scanner for a configuration, loading the real noble (HCI socket) only
 * when it starts; null when BLE scanning is not configured, in which case
 * noble is never imported. `noble` overrides the source (the simulator).
 */
export function createBeaconScanner(
  config: BeaconScannerConfig | undefined,
  opts: { noble?: NobleBeaconScannerOptions['noble']; clock?: () => number } = {},
): NobleBeaconScanner | null {
  if (!config?.enabled) return null;
  const hciDeviceId = config.hciDeviceId;
  const o: NobleBeaconScannerOptions = {
    noble: opts.noble ?? (() => loadNoble(hciDeviceId === undefined ? {} : { hciDeviceId })),
  };
  if (opts.clock) o.clock = opts.clock;
  if (config.silentMs !== undefined) o.silentMs = config.silentMs;
  if (config.minRssi !== undefined) o.minRssi = config.minRssi;
  return new NobleBeaconScanner(o);
}
