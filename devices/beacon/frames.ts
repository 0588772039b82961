/**
 * Typed beacon frames decoded from BLE advertisements. Pure types and
 * constants: no wire parsing here (see parse.ts and encode.ts).
 *
 * Every decoded frame carries `ok: true` and a `kind`, and a failure carries
 * `ok: false` with a catalogue code and a reason, so a parse result is one
 * discriminated union and the hot path allocates a single object per report.
 *
 * Identifiers: the iBeacon proximity UUID is upper-case and dashed, the way
 * Apple and the WeChat shake platform print it
 * (`FDA50693-A4E2-4FB1-AFCF-C6EB07647825`); opaque byte identifiers
 * (Eddystone namespace, instance and EID, AltBeacon beacon id) are lower-case
 * hex without separators; the AltBeacon id1 is a UUID in the iBeacon form.
 */
import type { ErrorCode } from '../../core/errors.ts';

/** Apple iBeacon, in manufacturer data `4C 00 02 15 <uuid16> <major2> <minor2> <power1>`. */
export interface IBeaconFrame {
  readonly ok: true;
  readonly kind: 'ibeacon';
  /** Proximity UUID, upper-case, dashed 8-4-4-4-12. */
  readonly uuid: string;
  /** 0..65535, big-endian on the wire. */
  readonly major: number;
  /** 0..65535, big-endian on the wire. */
  readonly minor: number;
  /** Calibrated RSSI at 1 m in dBm, signed byte (-128..127). */
  readonly measuredPower: number;
}

/** Eddystone-UID (frame type 0x00). */
export interface EddystoneUidFrame {
  readonly ok: true;
  readonly kind: 'eddystone-uid';
  /** Calibrated Tx power at 0 m in dBm, signed byte. */
  readonly txPower: number;
  /** 10-byte namespace, 20 lower-case hex digits. */
  readonly namespace: string;
  /** 6-byte instance, 12 lower-case hex digits. */
  readonly instance: string;
}

/** Eddystone-URL (frame type 0x10). */
export interface EddystoneUrlFrame {
  readonly ok: true;
  readonly kind: 'eddystone-url';
  readonly txPower: number;
  /** The decoded URL: scheme prefix and expansion codes expanded. */
  readonly url: string;
}

/** Eddystone-TLM, unencrypted version 0x00 (frame type 0x20). */
export interface EddystoneTlmFrame {
  readonly ok: true;
  readonly kind: 'eddystone-tlm';
  readonly version: 0;
  /** Battery voltage in mV; 0 means the beacon does not measure it (e.g. USB powered). */
  readonly batteryMv: number;
  /** Temperature in °C from signed 8.8 fixed point; null when the beacon sent 0x8000 (not supported). */
  readonly temperatureC: number | null;
  /** Advertising PDUs sent since power-on or reboot (u32). */
  readonly advCount: number;
  /** Time since power-on or reboot in seconds (the wire counts 0.1 s as u32). */
  readonly uptimeS: number;
}

/** Eddystone-EID (frame type 0x30). */
export interface EddystoneEidFrame {
  readonly ok: true;
  readonly kind: 'eddystone-eid';
  readonly txPower: number;
  /** 8-byte ephemeral identifier, 16 lower-case hex digits. */
  readonly eid: string;
}

/**
 * AltBeacon, manufacturer data `<company LE2> BE AC <id20> <refRssi1> <reserved1>`.
 * The 20-byte beacon id is also split the way the AltBeacon reference
 * implementations and most deployments use it, so it can be matched like
 * an iBeacon: id1 (16 bytes, organisational unit), id2 and id3 (u16 each).
 */
export interface AltBeaconFrame {
  readonly ok: true;
  readonly kind: 'altbeacon';
  /** Bluetooth SIG company identifier (little-endian on the wire), e.g. 0x0118 Radius Networks. */
  readonly companyId: number;
  /** 20-byte beacon id, 40 lower-case hex digits. */
  readonly beaconId: string;
  /** Beacon id bytes 0..15 as a UUID, upper-case and dashed like an iBeacon proximity UUID. */
  readonly id1: string;
  /** Beacon id bytes 16..17, big-endian, 0..65535 (like an iBeacon major). */
  readonly id2: number;
  /** Beacon id bytes 18..19, big-endian, 0..65535 (like an iBeacon minor). */
  readonly id3: number;
  /** Average RSSI at 1 m in dBm, signed byte. */
  readonly referenceRssi: number;
  /** Manufacturer reserved byte, 0..255. */
  readonly mfgReserved: number;
}

/**
 * The id1/id2/id3 split of an AltBeacon beacon id given as 40 hex digits
 * (as `beaconId` is), for building frames to encode. Throws RangeError on
 * anything else.
 */
export function altBeaconIds(beaconId: string): Pick<AltBeaconFrame, 'id1' | 'id2' | 'id3'> {
  if (!/^[0-9a-fA-F]{40}$/.test(beaconId)) {
    throw new RangeError(`AltBeacon beaconId must be 40 hex digits, got ${JSON.stringify(beaconId)}`);
  }
  const h = beaconId.toUpperCase();
  return {
    id1: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`,
    id2: Number.parseInt(h.slice(32, 36), 16),
    id3: Number.parseInt(h.slice(36, 40), 16),
  };
}

export type EddystoneFrame = EddystoneUidFrame | EddystoneUrlFrame | EddystoneTlmFrame | EddystoneEidFrame;
export type BeaconFrame = IBeaconFrame | EddystoneFrame | AltBeaconFrame;
export type BeaconKind = BeaconFrame['kind'];

export const BEACON_KINDS: readonly BeaconKind[] = [
  'ibeacon',
  'eddystone-uid',
  'eddystone-url',
  'eddystone-tlm',
  'eddystone-eid',
  'altbeacon',
];

/** The catalogue codes a parse can fail with. */
export type BeaconFailureCode =
  | typeof ErrorCode.BeaconNotABeacon
  | typeof ErrorCode.BeaconTruncated
  | typeof ErrorCode.BeaconMalformed
  | typeof ErrorCode.BeaconUnsupported;

/**
 * Why some bytes are not a beacon frame. `offset` is the byte offset in the
 * input where the problem was found, when there is one.
 */
export interface NotABeacon {
  readonly ok: false;
  readonly kind: 'not-a-beacon';
  readonly code: BeaconFailureCode;
  readonly reason: string;
  readonly offset?: number;
}

export type BeaconParseResult = BeaconFrame | NotABeacon;

/** The advertisement object noble emits (only the fields the parsers read). */
export interface NobleAdvertisementLike {
  manufacturerData?: Uint8Array | null | undefined;
  serviceData?: ReadonlyArray<{ uuid: string; data?: Uint8Array | null | undefined }> | null | undefined;
  serviceUuids?: readonly string[] | null | undefined;
}

/** AD types used by beacons (Bluetooth Assigned Numbers, Generic Access Profile). */
export const AdType = {
  Flags: 0x01,
  Incomplete16BitUuids: 0x02,
  Complete16BitUuids: 0x03,
  ServiceData16: 0x16,
  ManufacturerData: 0xff,
} as const;

export const APPLE_COMPANY_ID = 0x004c;
/** Eddystone service UUID 0xFEAA (little-endian on the wire: AA FE). */
export const EDDYSTONE_SERVICE_UUID = 0xfeaa;
export const ALTBEACON_CODE = 0xbeac;

/**
 * Upper bound on advertising data the parser reads: Bluetooth 5 extended
 * advertising data is at most 1650 bytes after reassembly (legacy is 31).
 * Longer input is refused, so a parse is O(this) at worst.
 */
export const MAX_ADVERTISING_DATA = 1650;

export function notABeacon(code: BeaconFailureCode, reason: string, offset?: number): NotABeacon {
  return offset === undefined
    ? { ok: false, kind: 'not-a-beacon', code, reason }
    : { ok: false, kind: 'not-a-beacon', code, reason, offset };
}
