/**
 * The BLE scanning port and the slice of noble it is built on.
 *
 * `BeaconScanner` is the domain port the gateway core depends on: decoded
 * beacon frames with RSSI, device address and time, plus restarts and
 * errors. `NobleLike` is the part of @abandonware/noble's central API the
 * driver uses, so any noble instance works: the HCI one on hardware, or one
 * built on another HCI transport (see noble-hci.ts).
 */
import type { EventEmitter } from 'node:events';
import type { BeaconFrame, NobleAdvertisementLike } from '../frames.ts';

export interface ScanRestart {
  /** Restarts since start(). */
  count: number;
  /** How long no advertisement had arrived when the watchdog fired. */
  silentForMs: number;
  at: number;
  /** Why: the watchdog found the scan silent, or the adapter came back on. */
  cause: 'silent' | 'powered-on';
}

export interface BeaconScannerEvents {
  /** One decoded beacon frame per advertisement report (duplicates allowed). */
  frame: [frame: BeaconFrame, rssi: number, address: string, at: number];
  restart: [info: ScanRestart];
  /** A VendgateError (BleUnavailable) when the adapter goes away or a restart fails. */
  error: [err: Error];
}

export interface BeaconScannerStats {
  scanning: boolean;
  /** Advertisement reports noble delivered. */
  reports: number;
  /** Reports that decoded as a beacon frame and passed the filter. */
  frames: number;
  /** Reports that were not beacons (phones, headphones, ...). */
  notBeacons: number;
  /** Beacon frames dropped by minRssi or the filter. */
  filtered: number;
  restarts: number;
  lastReportAt: number | undefined;
  lastError: string | undefined;
}

/** The domain port: a source of decoded beacon frames. */
export interface BeaconScanner extends EventEmitter<BeaconScannerEvents> {
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): BeaconScannerStats;
}

/** A peripheral as noble's 'discover' hands it over. */
export interface NoblePeripheralLike {
  id: string;
  uuid?: string;
  address: string;
  addressType?: string;
  rssi: number;
  advertisement: NobleAdvertisementLike;
}

/** The part of noble's central API the scanner uses. */
export interface NobleLike {
  readonly state: string;
  on(event: 'discover', listener: (p: NoblePeripheralLike) => void): unknown;
  on(event: 'stateChange', listener: (state: string) => void): unknown;
  on(event: 'scanStop' | 'scanStart', listener: () => void): unknown;
  on(event: 'warning', listener: (message: string) => void): unknown;
  removeListener(event: 'discover', listener: (p: NoblePeripheralLike) => void): unknown;
  removeListener(event: 'stateChange', listener: (state: string) => void): unknown;
  removeListener(event: 'warning', listener: (message: string) => void): unknown;
  startScanningAsync(serviceUuids?: string[], allowDuplicates?: boolean): Promise<void>;
  stopScanningAsync(): Promise<void>;
}
