import { canonicalBeaconId } from '../../contract/coupons.ts';
import { ErrorCode, type ErrorCodeValue } from '../../core/errors.ts';

export type BeaconVerdict =
  | {
      ok: true;
      /**
       * The stable id campaign scopes are matched against, when it differs
       * from the id the phone saw (e.g. a rotating minor resolved to its
       * beacon). Defaults to the canonical form of the id seen.
       */
      canonicalId?: string;
    }
  | { ok: false; code: ErrorCodeValue; reason: string };

/**
 * Decides whether a beacon id a phone reported is one of this site's
 * beacons, current at `seenAt` (not a stale or cloned rotating id). The
 * fleet's rotating-id verifier implements this; `StaticBeaconVerifier` is
 * the simple fixed-set one for config and tests.
 */
export interface BeaconVerifier {
  verify(beaconId: string, seenAt: number): BeaconVerdict;
}

/**
 * Accepts exactly a fixed set of beacon ids (compared in canonical form),
 * optionally each with the interval during which it was current; an id
 * outside its interval is refused as stale. Static ids are trivially cloned
 * (an iBeacon advertisement is unauthenticated: anyone who hears the UUID,
 * major and minor can broadcast them): pair them with per-user caps, or use
 * a rotating verifier.
 */
export class StaticBeaconVerifier implements BeaconVerifier {
  readonly #ids = new Map<string, { from?: number; until?: number }>();

  constructor(ids: Iterable<string | { id: string; from?: number; until?: number }>) {
    for (const entry of ids) {
      const e = typeof entry === 'string' ? { id: entry } : entry;
      const id = canonicalBeaconId(e.id);
      if (!id) throw new TypeError(`not a beacon id: ${e.id}`);
      this.#ids.set(id, { from: e.from, until: e.until });
    }
  }

  verify(beaconId: string, seenAt: number): BeaconVerdict {
    const id = canonicalBeaconId(beaconId);
    const known = id === null ? undefined : this.#ids.get(id);
    if (!known) {
      return {
        ok: false,
        code: ErrorCode.CouponBeaconUnknown,
        reason: `beacon ${beaconId} is not one of this site's`,
      };
    }
    if (
      (known.from !== undefined && seenAt < known.from) ||
      (known.until !== undefined && seenAt >= known.until)
    ) {
      return {
        ok: false,
        code: ErrorCode.CouponBeaconStale,
        reason: `beacon id ${beaconId} was not current at ${new Date(seenAt).toISOString()} (stale or cloned)`,
      };
    }
    return { ok: true };
  }
}
