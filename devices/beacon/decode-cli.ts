/**
 * `vendgate beacon decode <hex>`: decodes advertisement bytes pasted by a
 * person (from a sniffer, `hcidump`, nRF Connect, a log line) and prints the
 * frame as JSON, or says exactly why the bytes are not a beacon.
 *
 * Accepts raw advertising data (AD structures), and also a bare payload as
 * noble shows it: manufacturer data starting at the company id
 * (`4C 00 02 15 ...`, `18 01 BE AC ...`) or Eddystone service data starting
 * at the service UUID (`AA FE 00 ...`); `--as eddystone` takes a bare frame.
 */
import { ErrorCode, errorCodeName } from '../../core/errors.ts';
import type { BeaconFrame, BeaconParseResult, NotABeacon } from './frames.ts';
import { parseHex } from './hex.ts';
import { parseAdvertisement, parseEddystoneServiceData, parseManufacturerData } from './parse.ts';

export type DecodeAs = 'auto' | 'ad' | 'manufacturer' | 'eddystone';
const DECODE_AS: readonly DecodeAs[] = ['auto', 'ad', 'manufacturer', 'eddystone'];

/** What the bytes were read as. */
export type DecodedAs = 'advertising-data' | 'manufacturer-data' | 'eddystone-service-data';

export type DecodeBeaconHexResult =
  | { ok: true; frame: BeaconFrame; as: DecodedAs }
  | { ok: false; message: string; code: number };

function describe(r: NotABeacon, what: string): string {
  const name = errorCodeName(r.code) ?? 'unknown';
  return `not a beacon (${r.code} ${name}) as ${what}: ${r.reason}`;
}

function eddystone(bytes: Buffer, withUuid: boolean): BeaconParseResult {
  return parseEddystoneServiceData(withUuid ? bytes.subarray(2) : bytes);
}

/**
 * Decodes hex text. In `auto` mode (default), tries raw advertising data
 * first; if that finds no beacon, tries a bare manufacturer-data payload
 * when it starts like one (iBeacon `4C 00 02 15` or AltBeacon `xx xx BE AC`),
 * then Eddystone service data when it starts with the UUID `AA FE`.
 */
export function decodeBeaconHex(hex: string, opts: { as?: DecodeAs } = {}): DecodeBeaconHexResult {
  const parsed = parseHex(hex);
  if (!parsed.ok)
    return { ok: false, code: ErrorCode.BeaconHexInvalid, message: `not valid hex: ${parsed.reason}` };
  const bytes = parsed.bytes;
  const as = opts.as ?? 'auto';

  if (as === 'manufacturer') {
    const r = parseManufacturerData(bytes);
    return r.ok ? { ok: true, frame: r, as: 'manufacturer-data' } : fail(r, 'manufacturer data');
  }
  if (as === 'eddystone') {
    const withUuid = bytes.length >= 2 && bytes[0] === 0xaa && bytes[1] === 0xfe;
    const r = eddystone(bytes, withUuid);
    return r.ok ? { ok: true, frame: r, as: 'eddystone-service-data' } : fail(r, 'Eddystone service data');
  }

  const ad = parseAdvertisement(bytes);
  if (ad.ok) return { ok: true, frame: ad, as: 'advertising-data' };
  if (as === 'ad') return fail(ad, 'advertising data');

  const looksIBeacon = bytes.length >= 4 && bytes[0] === 0x4c && bytes[1] === 0x00 && bytes[2] === 0x02;
  const looksAlt = bytes.length >= 4 && bytes[2] === 0xbe && bytes[3] === 0xac;
  if (looksIBeacon || looksAlt) {
    const m = parseManufacturerData(bytes);
    if (m.ok) return { ok: true, frame: m, as: 'manufacturer-data' };
    return fail(m, 'manufacturer data', ad);
  }
  if (bytes.length >= 2 && bytes[0] === 0xaa && bytes[1] === 0xfe) {
    const e = eddystone(bytes, true);
    if (e.ok) return { ok: true, frame: e, as: 'eddystone-service-data' };
    return fail(e, 'Eddystone service data', ad);
  }
  return fail(ad, 'advertising data');
}

function fail(r: NotABeacon, what: string, asAd?: NotABeacon): { ok: false; message: string; code: number } {
  let message = describe(r, what);
  if (asAd) message += `; ${describe(asAd, 'advertising data')}`;
  return { ok: false, code: r.code, message };
}

export interface TextSink {
  write(chunk: string): unknown;
}

const USAGE = `usage: vendgate beacon decode [--as auto|ad|manufacturer|eddystone] <hex>...

Decodes BLE advertisement bytes into an iBeacon, AltBeacon or Eddystone
(UID, URL, TLM, EID) frame and prints it as JSON.

  <hex>   advertising data (AD structures), e.g. 0201061AFF4C000215...
          or a bare payload: manufacturer data from the company id
          (4C000215...) or Eddystone service data from the UUID (AAFE...).
          Spaces, colons and dashes between bytes are fine; several
          arguments are joined.
  --as    how to read the bytes (default auto: advertising data, then a
          bare payload if it starts like one).

exit codes: 0 decoded, 1 not a beacon, 2 usage or hex error
`;

/** Runs the command; returns the exit code. Writes the frame JSON to `out`, problems to `err`. */
export function runBeaconDecodeCli(args: string[], out: TextSink, err: TextSink): number {
  let as: DecodeAs = 'auto';
  const hexParts: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-h' || a === '--help') {
      out.write(USAGE);
      return 0;
    }
    if (a === '--as' || a.startsWith('--as=')) {
      const v = a === '--as' ? args[++i] : a.slice('--as='.length);
      if (v === undefined || !(DECODE_AS as readonly string[]).includes(v)) {
        err.write(`--as must be one of ${DECODE_AS.join(', ')}\n\n${USAGE}`);
        return 2;
      }
      as = v as DecodeAs;
      continue;
    }
    if (a.startsWith('--')) {
      err.write(`unknown option ${a}\n\n${USAGE}`);
      return 2;
    }
    hexParts.push(a);
  }
  if (hexParts.length === 0) {
    err.write(`no bytes given\n\n${USAGE}`);
    return 2;
  }
  const r = decodeBeaconHex(hexParts.join(' '), { as });
  if (!r.ok) {
    err.write(`${r.message}\n`);
    return r.code === ErrorCode.BeaconHexInvalid ? 2 : 1;
  }
  const { ok: _ok, ...fields } = r.frame;
  out.write(`${JSON.stringify({ decodedAs: r.as, ...fields }, null, 2)}\n`);
  return 0;
}
