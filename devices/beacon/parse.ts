/**
 * Beacon advertisement parsers: pure, allocation-light, never throwing.
 *
 * Input is either raw advertising data (a sequence of AD structures
 * `length, type, data[length-1]`, Bluetooth Core Spec Vol 3 Part C §11) or
 * the advertisement object noble emits. Output is a typed frame or a
 * `NotABeacon` with a catalogue code, a reason and the offending offset.
 *
 * Formats:
 * - iBeacon: manufacturer data `4C 00 02 15`, UUID (16), major (u16 BE),
 *   minor (u16 BE), measured power (i8).
 * - AltBeacon (github.com/AltBeacon/spec): manufacturer data
 *   `<company id LE> BE AC`, beacon id (20), reference RSSI (i8), reserved (u8).
 * - Eddystone (github.com/google/eddystone): 16-bit service data for 0xFEAA;
 *   the frame type is the first byte: UID 0x00, URL 0x10, TLM 0x20, EID
 *   0x30; every other value, a nonzero low nibble included, is reserved and
 *   refused. Multi-byte fields are big-endian.
 *
 * Performance: fields are read by indexing bytes (`b[i] << 8 | b[i + 1]`),
 * never with Buffer#readUInt16BE and friends, and nothing is sliced or
 * copied; hex identifiers come from lookup tables (hex.ts). The common
 * "no beacon here" answer is a shared frozen object.
 */
import { ErrorCode } from '../../core/errors.ts';
import {
  type AltBeaconFrame,
  type BeaconParseResult,
  type EddystoneTlmFrame,
  type IBeaconFrame,
  MAX_ADVERTISING_DATA,
  type NobleAdvertisementLike,
  type NotABeacon,
  notABeacon,
} from './frames.ts';
import { hex6At, hex8At, hex10At, hex20At, uuidAt } from './hex.ts';

const NOT_A_BEACON = ErrorCode.BeaconNotABeacon;
const TRUNCATED = ErrorCode.BeaconTruncated;
const MALFORMED = ErrorCode.BeaconMalformed;
const UNSUPPORTED = ErrorCode.BeaconUnsupported;

/** The shared answer when no structure looks like a beacon at all. */
export const NO_BEACON_FOUND: NotABeacon = Object.freeze(
  notABeacon(
    NOT_A_BEACON,
    'no known beacon frame found (no iBeacon/AltBeacon manufacturer data, no Eddystone 0xFEAA service data)',
  ),
);
const EMPTY_MANUFACTURER: NotABeacon = Object.freeze(
  notABeacon(NOT_A_BEACON, 'manufacturer data too short for a company id'),
);
const OTHER_MANUFACTURER: NotABeacon = Object.freeze(
  notABeacon(NOT_A_BEACON, 'manufacturer data is neither iBeacon (4C 00 02 15) nor AltBeacon (xx xx BE AC)'),
);

/** Eddystone-URL scheme prefixes, indexed by the scheme byte. */
export const URL_SCHEMES: readonly string[] = ['http://www.', 'https://www.', 'http://', 'https://'];

/** Eddystone-URL expansion codes 0x00..0x0D. */
export const URL_EXPANSIONS: readonly string[] = [
  '.com/',
  '.org/',
  '.edu/',
  '.net/',
  '.info/',
  '.biz/',
  '.gov/',
  '.com',
  '.org',
  '.edu',
  '.net',
  '.info',
  '.biz',
  '.gov',
];

/**
 * What each encoded-URL byte expands to: an expansion code, a printable
 * US-ASCII character (0x21..0x7E), or undefined for the bytes the spec
 * reserves (0x0E..0x20, 0x7F..0xFF).
 */
const URL_BYTE: ReadonlyArray<string | undefined> = (() => {
  const t: Array<string | undefined> = new Array(256).fill(undefined);
  for (let i = 0; i < URL_EXPANSIONS.length; i++) t[i] = URL_EXPANSIONS[i];
  for (let c = 0x21; c <= 0x7e; c++) t[c] = String.fromCharCode(c);
  return t;
})();

function hexByte(n: number): string {
  return `0x${n.toString(16).padStart(2, '0').toUpperCase()}`;
}

/**
 * Decodes manufacturer-specific data in `b[o..end)` (starting at the company
 * id, as in noble's `manufacturerData`). `base` is added to offsets in
 * reasons, so they point into the caller's whole buffer.
 */
function decodeManufacturer(b: Uint8Array, o: number, end: number, base: number): BeaconParseResult {
  const n = end - o;
  if (n < 4) {
    if (n >= 2 && b[o] === 0x4c && b[o + 1] === 0x00) {
      return notABeacon(TRUNCATED, `Apple manufacturer data is ${n} bytes; iBeacon needs 25`, base + o);
    }
    return EMPTY_MANUFACTURER;
  }
  const b2 = b[o + 2]!;
  const b3 = b[o + 3]!;
  // iBeacon: company 0x004C (LE: 4C 00), type 0x02, remaining length 0x15 (21).
  if (b[o] === 0x4c && b[o + 1] === 0x00 && b2 === 0x02 && b3 === 0x15) {
    if (n < 25) {
      return notABeacon(TRUNCATED, `iBeacon manufacturer data is ${n} bytes; needs 25`, base + o);
    }
    const frame: IBeaconFrame = {
      ok: true,
      kind: 'ibeacon',
      uuid: uuidAt(b, o + 4),
      major: (b[o + 20]! << 8) | b[o + 21]!,
      minor: (b[o + 22]! << 8) | b[o + 23]!,
      measuredPower: (b[o + 24]! << 24) >> 24,
    };
    return frame;
  }
  // AltBeacon: any company id, beacon code 0xBEAC big-endian.
  if (b2 === 0xbe && b3 === 0xac) {
    if (n < 26) {
      return notABeacon(TRUNCATED, `AltBeacon manufacturer data is ${n} bytes; needs 26`, base + o);
    }
    const frame: AltBeaconFrame = {
      ok: true,
      kind: 'altbeacon',
      companyId: b[o]! | (b[o + 1]! << 8),
      beaconId: hex20At(b, o + 4),
      id1: uuidAt(b, o + 4),
      id2: (b[o + 20]! << 8) | b[o + 21]!,
      id3: (b[o + 22]! << 8) | b[o + 23]!,
      referenceRssi: (b[o + 24]! << 24) >> 24,
      mfgReserved: b[o + 25]!,
    };
    return frame;
  }
  return OTHER_MANUFACTURER;
}

/**
 * Decodes an Eddystone frame in `b[o..end)` (the service data after the
 * 0xFEAA UUID, as in noble's `serviceData[i].data`).
 */
function decodeEddystone(b: Uint8Array, o: number, end: number, base: number): BeaconParseResult {
  const n = end - o;
  if (n < 1) return notABeacon(TRUNCATED, 'Eddystone service data has no frame type byte', base + o);
  const type = b[o]!;
  if ((type & 0x0f) !== 0) {
    // The frame type is the whole byte; the defined types all end in 0 and
    // the others are reserved: 0x05 is no UID.
    return notABeacon(
      UNSUPPORTED,
      `Eddystone frame type ${hexByte(type)} is reserved (its low nibble is not 0); not UID (0x00), URL (0x10), TLM (0x20) or EID (0x30)`,
      base + o,
    );
  }
  switch (type) {
    case 0x00: {
      // UID: type, tx power, namespace (10), instance (6), RFU (2). The RFU
      // bytes are optional: early implementations send 18 bytes.
      if (n < 18)
        return notABeacon(TRUNCATED, `Eddystone-UID frame is ${n} bytes; needs 18 (20 with RFU)`, base + o);
      return {
        ok: true,
        kind: 'eddystone-uid',
        txPower: (b[o + 1]! << 24) >> 24,
        namespace: hex10At(b, o + 2),
        instance: hex6At(b, o + 12),
      };
    }
    case 0x10: {
      // URL: type, tx power, scheme, encoded URL (0..17 bytes in legacy advertising).
      if (n < 3)
        return notABeacon(TRUNCATED, `Eddystone-URL frame is ${n} bytes; needs at least 3`, base + o);
      const scheme = b[o + 2]!;
      const prefix = URL_SCHEMES[scheme];
      if (prefix === undefined) {
        return notABeacon(
          MALFORMED,
          `Eddystone-URL scheme byte ${hexByte(scheme)} is not one of 0x00..0x03`,
          base + o + 2,
        );
      }
      let url = prefix;
      for (let i = o + 3; i < end; i++) {
        const part = URL_BYTE[b[i]!];
        if (part === undefined) {
          return notABeacon(
            MALFORMED,
            `Eddystone-URL byte ${hexByte(b[i]!)} is reserved (not an expansion code nor printable ASCII)`,
            base + i,
          );
        }
        url += part;
      }
      return { ok: true, kind: 'eddystone-url', txPower: (b[o + 1]! << 24) >> 24, url };
    }
    case 0x20: {
      if (n < 2) return notABeacon(TRUNCATED, 'Eddystone-TLM frame has no version byte', base + o);
      const version = b[o + 1]!;
      if (version !== 0x00) {
        return notABeacon(
          UNSUPPORTED,
          version === 0x01
            ? 'Eddystone-TLM version 0x01 is encrypted (ETLM); only unencrypted version 0x00 is decoded'
            : `Eddystone-TLM version ${hexByte(version)} is unknown; only 0x00 is decoded`,
          base + o + 1,
        );
      }
      if (n < 14) return notABeacon(TRUNCATED, `Eddystone-TLM frame is ${n} bytes; needs 14`, base + o);
      const rawTemp = (b[o + 4]! << 8) | b[o + 5]!;
      const frame: EddystoneTlmFrame = {
        ok: true,
        kind: 'eddystone-tlm',
        version: 0,
        batteryMv: (b[o + 2]! << 8) | b[o + 3]!,
        temperatureC: rawTemp === 0x8000 ? null : ((rawTemp << 16) >> 16) / 256,
        advCount: ((b[o + 6]! << 24) | (b[o + 7]! << 16) | (b[o + 8]! << 8) | b[o + 9]!) >>> 0,
        uptimeS: (((b[o + 10]! << 24) | (b[o + 11]! << 16) | (b[o + 12]! << 8) | b[o + 13]!) >>> 0) / 10,
      };
      return frame;
    }
    case 0x30: {
      if (n < 10) return notABeacon(TRUNCATED, `Eddystone-EID frame is ${n} bytes; needs 10`, base + o);
      return { ok: true, kind: 'eddystone-eid', txPower: (b[o + 1]! << 24) >> 24, eid: hex8At(b, o + 2) };
    }
    default:
      return notABeacon(
        UNSUPPORTED,
        `Eddystone frame type ${hexByte(b[o]!)} is not UID (0x00), URL (0x10), TLM (0x20) or EID (0x30)`,
        base + o,
      );
  }
}

/**
 * Parses raw advertising data (AD structures) in `data[start..end)` and
 * returns the first beacon frame found. When none is found, returns the most
 * specific reason seen: a truncated AD structure (with its index and
 * offset), a beacon-shaped structure that is truncated or malformed, or
 * "no known beacon frame". A zero length byte ends the data early, as the
 * Core Spec allows (legacy advertising data is zero padded to 31 bytes).
 *
 * Never throws; visits each byte at most once; refuses input longer than
 * MAX_ADVERTISING_DATA.
 */
export function parseAdvertisement(data: Uint8Array, start = 0, end = data.length): BeaconParseResult {
  if (end > data.length) end = data.length;
  if (start < 0) start = 0;
  if (end - start > MAX_ADVERTISING_DATA) {
    return notABeacon(
      MALFORMED,
      `advertising data is ${end - start} bytes; BLE allows at most ${MAX_ADVERTISING_DATA}`,
      0,
    );
  }
  let failure: NotABeacon | undefined;
  let i = start;
  let index = 0;
  while (i < end) {
    const len = data[i]!;
    if (len === 0) break;
    const next = i + 1 + len;
    if (next > end) {
      const t = notABeacon(
        TRUNCATED,
        `AD structure #${index} at offset ${i - start} declares length ${len} but only ${end - i - 1} bytes follow`,
        i - start,
      );
      return failure ?? t;
    }
    const type = data[i + 1]!;
    if (type === 0xff) {
      const r = decodeManufacturer(data, i + 2, next, -start);
      if (r.ok) return r;
      if (r.code !== NOT_A_BEACON) failure ??= r;
    } else if (type === 0x16 && len >= 3 && data[i + 2] === 0xaa && data[i + 3] === 0xfe) {
      const r = decodeEddystone(data, i + 4, next, -start);
      if (r.ok) return r;
      failure ??= r;
    }
    i = next;
    index++;
  }
  return failure ?? NO_BEACON_FOUND;
}

/**
 * Parses manufacturer-specific data as noble gives it (starting at the
 * little-endian company id, e.g. `4C 00 02 15 ...` for an iBeacon).
 */
export function parseManufacturerData(data: Uint8Array): BeaconParseResult {
  return decodeManufacturer(data, 0, data.length, 0);
}

/** Parses Eddystone service data as noble gives it (the frame, after the 0xFEAA UUID). */
export function parseEddystoneServiceData(data: Uint8Array): BeaconParseResult {
  return decodeEddystone(data, 0, data.length, 0);
}

function isEddystoneUuid(uuid: string): boolean {
  // noble writes 16-bit UUIDs as lower-case hex without leading zeros.
  return uuid === 'feaa' || (uuid.length === 4 && uuid.toLowerCase() === 'feaa');
}

/**
 * Parses the advertisement object noble emits (`peripheral.advertisement`):
 * Eddystone service data first, then manufacturer data. Offsets in reasons
 * are relative to the field they came from.
 */
export function parseNobleAdvertisement(adv: NobleAdvertisementLike): BeaconParseResult {
  let failure: NotABeacon | undefined;
  const services = adv.serviceData;
  if (services) {
    for (let k = 0; k < services.length; k++) {
      const s = services[k]!;
      if (s.data && isEddystoneUuid(s.uuid)) {
        const r = decodeEddystone(s.data, 0, s.data.length, 0);
        if (r.ok) return r;
        failure ??= r;
      }
    }
  }
  const m = adv.manufacturerData;
  if (m) {
    const r = decodeManufacturer(m, 0, m.length, 0);
    if (r.ok) return r;
    if (r.code !== NOT_A_BEACON) failure ??= r;
  }
  return failure ?? NO_BEACON_FOUND;
}
