/**
 * Encoders for every beacon frame the parsers decode, so a simulator can
 * advertise them and property tests can round trip. Unlike the parsers
 * (which face arbitrary radio bytes and never throw), encoders get values
 * from our own code and throw a VendgateError (BeaconFieldInvalid) naming
 * the field when a value cannot be put on the wire.
 */
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type {
  AltBeaconFrame,
  BeaconFrame,
  EddystoneEidFrame,
  EddystoneTlmFrame,
  EddystoneUidFrame,
  EddystoneUrlFrame,
  IBeaconFrame,
} from './frames.ts';
import { URL_EXPANSIONS, URL_SCHEMES } from './parse.ts';

/** A frame as an encoder takes it: the `ok` tag is optional. */
export type FrameInput<F extends BeaconFrame> = Omit<F, 'ok'> & { readonly ok?: true };
export type BeaconFrameInput = {
  [K in BeaconFrame['kind']]: FrameInput<Extract<BeaconFrame, { kind: K }>>;
}[BeaconFrame['kind']];

/** Encoded URL bytes (after the scheme byte) that fit a legacy 31-byte advertisement. */
export const MAX_EDDYSTONE_URL_BYTES = 17;

function invalid(field: string, value: unknown, rule: string): never {
  throw new VendgateError(
    ErrorCode.BeaconFieldInvalid,
    `${field} ${JSON.stringify(value)} is invalid: ${rule}`,
    {
      field,
      value,
    },
  );
}

function int(field: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) invalid(field, v, `an integer in ${min}..${max}`);
  return v;
}

function hexField(field: string, v: string, bytes: number, allowDashes = false): Buffer {
  const s = allowDashes ? v.replaceAll('-', '') : v;
  if (s.length !== bytes * 2 || !/^[0-9a-fA-F]*$/.test(s))
    invalid(field, v, `${bytes} bytes as ${bytes * 2} hex digits`);
  return Buffer.from(s, 'hex');
}

/** iBeacon manufacturer data (25 bytes, starting at company id `4C 00`). */
export function encodeIBeaconManufacturerData(f: FrameInput<IBeaconFrame>): Buffer {
  const b = Buffer.alloc(25);
  b[0] = 0x4c;
  b[1] = 0x00;
  b[2] = 0x02;
  b[3] = 0x15;
  hexField('uuid', f.uuid, 16, true).copy(b, 4);
  b.writeUInt16BE(int('major', f.major, 0, 0xffff), 20);
  b.writeUInt16BE(int('minor', f.minor, 0, 0xffff), 22);
  b.writeInt8(int('measuredPower', f.measuredPower, -128, 127), 24);
  return b;
}

/** AltBeacon manufacturer data (26 bytes, starting at the little-endian company id). */
export function encodeAltBeaconManufacturerData(f: FrameInput<AltBeaconFrame>): Buffer {
  const b = Buffer.alloc(26);
  b.writeUInt16LE(int('companyId', f.companyId, 0, 0xffff), 0);
  b[2] = 0xbe;
  b[3] = 0xac;
  hexField('beaconId', f.beaconId, 20).copy(b, 4);
  b.writeInt8(int('referenceRssi', f.referenceRssi, -128, 127), 24);
  b[25] = int('mfgReserved', f.mfgReserved, 0, 0xff);
  return b;
}

/**
 * Eddystone-URL scheme byte and encoded URL: the longest matching scheme
 * prefix, then at each position the longest matching expansion code, else
 * the character itself (printable US-ASCII only).
 */
export function encodeEddystoneUrl(url: string): Buffer {
  let scheme = -1;
  for (let s = 0; s < URL_SCHEMES.length; s++) {
    const p = URL_SCHEMES[s]!;
    if (url.startsWith(p) && (scheme < 0 || p.length > URL_SCHEMES[scheme]!.length)) scheme = s;
  }
  if (scheme < 0) invalid('url', url, 'must start with http://, https://, http://www. or https://www.');
  const out: number[] = [scheme];
  let i = URL_SCHEMES[scheme]!.length;
  while (i < url.length) {
    let code = -1;
    let codeLen = 0;
    for (let c = 0; c < URL_EXPANSIONS.length; c++) {
      const e = URL_EXPANSIONS[c]!;
      if (e.length > codeLen && url.startsWith(e, i)) {
        code = c;
        codeLen = e.length;
      }
    }
    if (code >= 0) {
      out.push(code);
      i += codeLen;
      continue;
    }
    const ch = url.charCodeAt(i);
    if (ch < 0x21 || ch > 0x7e) invalid('url', url, `character ${i} is not printable US-ASCII (0x21..0x7E)`);
    out.push(ch);
    i++;
  }
  if (out.length - 1 > MAX_EDDYSTONE_URL_BYTES) {
    invalid(
      'url',
      url,
      `encodes to ${out.length - 1} bytes; at most ${MAX_EDDYSTONE_URL_BYTES} fit an advertisement`,
    );
  }
  return Buffer.from(out);
}

function encodeUid(f: FrameInput<EddystoneUidFrame>): Buffer {
  const b = Buffer.alloc(20);
  b[0] = 0x00;
  b.writeInt8(int('txPower', f.txPower, -128, 127), 1);
  hexField('namespace', f.namespace, 10).copy(b, 2);
  hexField('instance', f.instance, 6).copy(b, 12);
  return b; // bytes 18..19 RFU, zero
}

function encodeUrl(f: FrameInput<EddystoneUrlFrame>): Buffer {
  const head = Buffer.from([0x10, int('txPower', f.txPower, -128, 127) & 0xff]);
  return Buffer.concat([head, encodeEddystoneUrl(f.url)]);
}

function encodeTlm(f: FrameInput<EddystoneTlmFrame>): Buffer {
  const b = Buffer.alloc(14);
  b[0] = 0x20;
  if (f.version !== 0) invalid('version', f.version, 'only unencrypted TLM version 0 is encoded');
  b.writeUInt16BE(int('batteryMv', f.batteryMv, 0, 0xffff), 2);
  if (f.temperatureC === null) {
    b.writeUInt16BE(0x8000, 4);
  } else {
    const t = f.temperatureC * 256;
    if (!Number.isInteger(t) || t <= -32768 || t > 32767) {
      invalid(
        'temperatureC',
        f.temperatureC,
        'a multiple of 1/256 °C in (-128, 128); -128 is 0x8000, which means "unknown": use null',
      );
    }
    b.writeInt16BE(t, 4);
  }
  b.writeUInt32BE(int('advCount', f.advCount, 0, 0xffffffff), 6);
  const tenths = Math.round(f.uptimeS * 10);
  if (!Number.isFinite(f.uptimeS) || tenths < 0 || tenths > 0xffffffff) {
    invalid('uptimeS', f.uptimeS, `seconds in 0..${0xffffffff / 10}, sent in 0.1 s steps`);
  }
  b.writeUInt32BE(tenths, 10);
  return b;
}

function encodeEid(f: FrameInput<EddystoneEidFrame>): Buffer {
  const b = Buffer.alloc(10);
  b[0] = 0x30;
  b.writeInt8(int('txPower', f.txPower, -128, 127), 1);
  hexField('eid', f.eid, 8).copy(b, 2);
  return b;
}

/** An Eddystone frame as service data (the bytes after the 0xFEAA UUID). */
export function encodeEddystoneServiceData(
  f:
    | FrameInput<EddystoneUidFrame>
    | FrameInput<EddystoneUrlFrame>
    | FrameInput<EddystoneTlmFrame>
    | FrameInput<EddystoneEidFrame>,
): Buffer {
  switch (f.kind) {
    case 'eddystone-uid':
      return encodeUid(f);
    case 'eddystone-url':
      return encodeUrl(f);
    case 'eddystone-tlm':
      return encodeTlm(f);
    case 'eddystone-eid':
      return encodeEid(f);
  }
}

export interface EncodeAdvertisementOptions {
  /** Flags AD structure value; default 0x06 (LE General Discoverable, BR/EDR not supported); null omits it. */
  flags?: number | null;
}

/**
 * A whole advertisement payload (AD structures) for a frame, as a beacon
 * sends it: flags, then manufacturer data (iBeacon, AltBeacon) or the
 * Eddystone 16-bit service UUID list and service data.
 */
export function encodeAdvertisement(f: BeaconFrameInput, opts: EncodeAdvertisementOptions = {}): Buffer {
  const parts: Buffer[] = [];
  const flags = opts.flags === undefined ? 0x06 : opts.flags;
  if (flags !== null) parts.push(Buffer.from([0x02, 0x01, int('flags', flags, 0, 0xff)]));
  if (f.kind === 'ibeacon' || f.kind === 'altbeacon') {
    const m = f.kind === 'ibeacon' ? encodeIBeaconManufacturerData(f) : encodeAltBeaconManufacturerData(f);
    parts.push(Buffer.from([m.length + 1, 0xff]), m);
  } else {
    const frame = encodeEddystoneServiceData(f);
    parts.push(Buffer.from([0x03, 0x03, 0xaa, 0xfe, frame.length + 3, 0x16, 0xaa, 0xfe]), frame);
  }
  return Buffer.concat(parts);
}

/** Manufacturer data for iBeacon/AltBeacon, service data for Eddystone: what noble hands over. */
export function encodePayload(f: BeaconFrameInput): Buffer {
  switch (f.kind) {
    case 'ibeacon':
      return encodeIBeaconManufacturerData(f);
    case 'altbeacon':
      return encodeAltBeaconManufacturerData(f);
    default:
      return encodeEddystoneServiceData(f);
  }
}
