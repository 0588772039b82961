/**
 * Rotating iBeacon minors, and a beacon verifier for shake claims.
 *
 * iBeacon ids are trivially cloned (REFERENCE.md "iBeacon"). A beacon that
 * changes its minor every window, to a value only the holders of a shared
 * secret can compute, makes a copied id useless after a window or two: the
 * platform and the gateway can tell the current id from a replayed one.
 * (Like Eddystone-EID, this defeats cloning, not live relaying within one
 * window.)
 *
 * Derivation, so another implementation (the platform, beacon firmware) can
 * reproduce it byte for byte:
 *
 *   window = floor(t_seconds / windowSec)
 *   mac    = HMAC-SHA256(secret, utf8(beaconKey) || uint64_be(window))
 *   minor  = the first non-zero big-endian 16-bit word of mac
 *            (words 0..15 in order; 1 if all sixteen are zero)
 *
 * Minor 0 is never advertised, so `ibeacon:<uuid>:<major>:0` can name the
 * rotating beacon itself (its stable id for campaign scopes).
 */
import { createHmac } from 'node:crypto';
import { ErrorCode } from '../../core/errors.ts';

/** WeChat "shake" (摇一摇周边) default proximity UUID. */
export const WECHAT_SHAKE_UUID = 'FDA50693-A4E2-4FB1-AFCF-C6EB07647825';

export interface RotatingMinorOptions {
  /** Shared secret (bytes, or a string taken as UTF-8). At least 16 bytes. */
  secret: Uint8Array | string;
  /** What distinguishes this beacon among those sharing the secret, e.g. `10001` or `door-1`. */
  beaconKey: string;
  /** Window length in seconds. Default 600 (10 minutes). */
  windowSec?: number;
}

export interface VerifyMinorOptions {
  /** Windows before the current one still accepted (a phone's id may be a little old). Default 1. */
  acceptPrevious?: number;
  /** Windows after the current one accepted (beacon clock ahead of ours). Default 0. */
  acceptNext?: number;
  /** How far back an old minor is recognised as "replayed" rather than "unknown". Default 144 windows. */
  lookback?: number;
}

export type MinorVerdict =
  | { ok: true; window: number; age: number }
  | { ok: false; kind: 'stale'; window: number; age: number; reason: string }
  | { ok: false; kind: 'unknown'; reason: string };

function u64be(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** The minor for one window (see the module comment for the exact derivation). */
export function deriveMinor(secret: Uint8Array | string, beaconKey: string, window: number): number {
  if (!Number.isSafeInteger(window) || window < 0)
    throw new RangeError(`window ${window} is not a whole number`);
  const mac = createHmac('sha256', typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret)
    .update(Buffer.from(beaconKey, 'utf8'))
    .update(u64be(window))
    .digest();
  for (let i = 0; i < 32; i += 2) {
    const w = (mac[i]! << 8) | mac[i + 1]!;
    if (w !== 0) return w;
  }
  return 1;
}

/** One rotating beacon: its minor at any time, and whether a seen minor is current. */
export class RotatingMinor {
  readonly beaconKey: string;
  readonly windowSec: number;
  readonly #secret: Buffer;

  constructor(opts: RotatingMinorOptions) {
    this.#secret =
      typeof opts.secret === 'string' ? Buffer.from(opts.secret, 'utf8') : Buffer.from(opts.secret);
    if (this.#secret.length < 16) throw new RangeError('the rotating-id secret must be at least 16 bytes');
    this.beaconKey = opts.beaconKey;
    this.windowSec = opts.windowSec ?? 600;
    if (!Number.isInteger(this.windowSec) || this.windowSec < 1) {
      throw new RangeError(`windowSec ${this.windowSec} must be a positive whole number of seconds`);
    }
  }

  /** The window index at `nowMs` (Unix ms). */
  windowAt(nowMs: number): number {
    return Math.floor(nowMs / 1000 / this.windowSec);
  }

  /** Unix ms at which the window after the one containing `nowMs` starts. */
  nextBoundary(nowMs: number): number {
    return (this.windowAt(nowMs) + 1) * this.windowSec * 1000;
  }

  minorForWindow(window: number): number {
    return deriveMinor(this.#secret, this.beaconKey, window);
  }

  currentMinor(nowMs: number): number {
    return this.minorForWindow(this.windowAt(nowMs));
  }

  /**
   * Is `minor` the one this beacon advertised when the phone saw it? Accepts
   * the window at `seenAt` and `acceptPrevious` windows before it (and
   * `acceptNext` after). An older minor (within `lookback`) is "stale": a
   * replay or a clone's copy. Anything else is "unknown": never advertised.
   */
  verifyMinor(minor: number, seenAt: number, opts: VerifyMinorOptions = {}): MinorVerdict {
    const prev = opts.acceptPrevious ?? 1;
    const next = opts.acceptNext ?? 0;
    const lookback = opts.lookback ?? 144;
    const w = this.windowAt(seenAt);
    if (!Number.isInteger(minor) || minor < 1 || minor > 0xffff) {
      return { ok: false, kind: 'unknown', reason: `minor ${minor} is not a rotating minor (1..65535)` };
    }
    for (let k = 0 - next; k <= prev; k++) {
      const win = w - k;
      if (win >= 0 && this.minorForWindow(win) === minor) return { ok: true, window: win, age: k };
    }
    for (let k = prev + 1; k <= lookback; k++) {
      const win = w - k;
      if (win < 0) break;
      if (this.minorForWindow(win) === minor) {
        return {
          ok: false,
          kind: 'stale',
          window: win,
          age: k,
          reason: `minor ${minor} was current ${k} windows (${k * this.windowSec} s) before the shake: replayed or cloned`,
        };
      }
    }
    return {
      ok: false,
      kind: 'unknown',
      reason: `minor ${minor} was not advertised by beacon ${this.beaconKey} in the ${lookback} windows before the shake`,
    };
  }
}

// ------------------------------------------------------------------ verifier

/** The coupon engine's verdict shape (gateway/coupons/verifier.ts). */
export type BeaconVerdict = { ok: true; canonicalId?: string } | { ok: false; code: number; reason: string };

/** What the verifier asks the scanner side: when a beacon was last seen, and whether it looks cloned. */
export interface BeaconPresence {
  /** Unix ms the gateway's scanner last saw the beacon with this id, or undefined if never. */
  lastSeenAt(beaconId: string): number | undefined;
  /** Whether the fleet currently suspects this id is cloned. */
  cloneSuspected?(beaconId: string): boolean;
}

export interface StaticBeaconEntry {
  /** `ibeacon:<UUID>:<major>:<minor>`, or `eddystone:<namespace>:<instance>` (also `eddystone-uid:`). */
  id: string;
}

export interface RotatingBeaconEntry {
  uuid: string;
  major: number;
  rotation: RotatingMinor;
  /** The stable id reported to the coupon engine. Default `ibeacon:<UUID>:<major>:0`. */
  canonicalId?: string;
}

export interface RotatingBeaconVerifierOptions {
  static?: readonly (string | StaticBeaconEntry)[];
  rotating?: readonly RotatingBeaconEntry[];
  /**
   * The scanner side (usually the BeaconFleet). When given, a static beacon
   * must have been seen by the gateway within `recentMs` of the shake; with
   * none, static beacons verify by membership alone.
   */
  presence?: BeaconPresence;
  /** How close to the shake the gateway must have seen a static beacon. Default 120 s. */
  recentMs?: number;
  /** Refuse ids the fleet suspects are cloned. Default true. */
  refuseCloneSuspected?: boolean;
  verify?: VerifyMinorOptions;
}

/** Parses `ibeacon:<uuid>:<major>:<minor>` / `eddystone[-uid]:<ns>:<instance>` into a canonical key, or null. */
export function canonicalBeaconKey(
  id: string,
):
  | { kind: 'ibeacon'; uuid: string; major: number; minor: number; key: string }
  | { kind: 'eddystone'; key: string }
  | null {
  const parts = id.trim().split(':');
  const kind = parts[0]?.toLowerCase();
  if (kind === 'ibeacon' && parts.length === 4) {
    const uuid = parts[1]!.toUpperCase();
    if (!/^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/.test(uuid)) return null;
    const major = Number(parts[2]);
    const minor = Number(parts[3]);
    if (!/^\d{1,5}$/.test(parts[2]!) || !/^\d{1,5}$/.test(parts[3]!) || major > 0xffff || minor > 0xffff)
      return null;
    return { kind: 'ibeacon', uuid, major, minor, key: `ibeacon:${uuid}:${major}:${minor}` };
  }
  if ((kind === 'eddystone' || kind === 'eddystone-uid') && parts.length === 3) {
    const ns = parts[1]!.toLowerCase();
    const inst = parts[2]!.toLowerCase();
    if (!/^[0-9a-f]{20}$/.test(ns) || !/^[0-9a-f]{12}$/.test(inst)) return null;
    return { kind: 'eddystone', key: `eddystone:${ns}:${inst}` };
  }
  return null;
}

/**
 * Verifies the beacon id in a shake claim (the coupon engine's
 * BeaconVerifier): rotating beacons by window (current or `acceptPrevious`
 * windows old; older is CouponBeaconStale 8004, never-advertised is
 * CouponBeaconUnknown 8003); static beacons by membership and, with a
 * presence source, by having been seen by this gateway's scanner near the
 * time of the shake (8004 otherwise). Ids that are neither are 8003.
 */
export class RotatingBeaconVerifier {
  readonly #static = new Set<string>();
  readonly #rotating = new Map<string, RotatingBeaconEntry[]>();
  readonly #opts: RotatingBeaconVerifierOptions;

  constructor(opts: RotatingBeaconVerifierOptions) {
    this.#opts = opts;
    for (const e of opts.static ?? []) {
      const id = typeof e === 'string' ? e : e.id;
      const k = canonicalBeaconKey(id);
      if (!k) throw new TypeError(`not a beacon id: ${id}`);
      this.#static.add(k.key);
    }
    for (const r of opts.rotating ?? []) {
      const k = `${r.uuid.toUpperCase()}:${r.major}`;
      const list = this.#rotating.get(k) ?? [];
      list.push(r);
      this.#rotating.set(k, list);
    }
  }

  verify(beaconId: string, seenAt: number): BeaconVerdict {
    const k = canonicalBeaconKey(beaconId);
    if (!k)
      return { ok: false, code: ErrorCode.CouponBeaconUnknown, reason: `${beaconId} is not a beacon id` };
    if (k.kind === 'ibeacon') {
      const candidates = this.#rotating.get(`${k.uuid}:${k.major}`);
      if (candidates) return this.#verifyRotating(k.key, k.minor, candidates, seenAt);
    }
    if (!this.#static.has(k.key)) {
      return {
        ok: false,
        code: ErrorCode.CouponBeaconUnknown,
        reason: `beacon ${beaconId} is not one of this site's`,
      };
    }
    const presence = this.#opts.presence;
    if (presence) {
      const alt = k.kind === 'eddystone' ? k.key.replace(/^eddystone:/, 'eddystone-uid:') : k.key;
      if ((this.#opts.refuseCloneSuspected ?? true) && presence.cloneSuspected?.(alt)) {
        return {
          ok: false,
          code: ErrorCode.CouponBeaconStale,
          reason: `beacon ${beaconId} is suspected cloned (two signal sources seen for one id); claims are refused until it is cleared`,
        };
      }
      const last = presence.lastSeenAt(alt);
      const recent = this.#opts.recentMs ?? 120_000;
      if (last === undefined || Math.abs(seenAt - last) > recent) {
        return {
          ok: false,
          code: ErrorCode.CouponBeaconStale,
          reason:
            last === undefined
              ? `beacon ${beaconId} has never been seen by this gateway's scanner (off, moved, or a clone elsewhere)`
              : `beacon ${beaconId} was last seen by this gateway at ${new Date(last).toISOString()}, more than ${recent} ms from the shake at ${new Date(seenAt).toISOString()}`,
        };
      }
    }
    return { ok: true, canonicalId: k.key.replace(/^eddystone-uid:/, 'eddystone:') };
  }

  #verifyRotating(
    key: string,
    minor: number,
    candidates: RotatingBeaconEntry[],
    seenAt: number,
  ): BeaconVerdict {
    let stale: string | undefined;
    for (const c of candidates) {
      const v = c.rotation.verifyMinor(minor, seenAt, this.#opts.verify);
      if (v.ok)
        return { ok: true, canonicalId: c.canonicalId ?? `ibeacon:${c.uuid.toUpperCase()}:${c.major}:0` };
      if (v.kind === 'stale') stale ??= v.reason;
    }
    if (stale) return { ok: false, code: ErrorCode.CouponBeaconStale, reason: `${key}: ${stale}` };
    return {
      ok: false,
      code: ErrorCode.CouponBeaconUnknown,
      reason: `${key}: minor ${minor} is not a current rotating id of any beacon under this uuid and major (forged or guessed)`,
    };
  }
}
