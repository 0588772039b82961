/**
 * Shake claims for the coupon engine's tests and the demo: visitors walking
 * past beacons shake their phones near one, and the platform forwards
 * `{userId, beaconId, seenAt}` with the id the phone saw. A burst mixes
 * honest claims with the abuse a campaign must survive: the same user
 * shaking again and again, ids replayed from an earlier window (a copied
 * rotating id), and forged ids (a guessed minor).
 */
import { Rng } from './rssi.ts';

export interface ShakeClaim {
  userId: string;
  beaconId: string;
  seenAt: number;
  /** What the generator meant this claim to be (for test assertions; not sent to the engine). */
  intent: 'honest' | 'repeat' | 'replayed' | 'forged';
}

/** A beacon a phone can see: the id it reports at time t (SimBeacon satisfies this). */
export interface ShakeTarget {
  idAt(t: number): string;
}

export interface ClaimBurstOptions {
  targets: readonly ShakeTarget[];
  /** When the burst starts, Unix ms. */
  at: number;
  /** Distinct visitors. Default 20. */
  users?: number;
  /** Visitors arrive spread over this long. Default 60 s. */
  spreadMs?: number;
  /** Extra shakes per user, a few seconds apart. Default 0. */
  repeatsPerUser?: number;
  /** Fraction of extra claims carrying an id seen this long before (a replay). Default 0. */
  replayFraction?: number;
  /** How old a replayed id is, ms. Default 1 hour. */
  replayAgeMs?: number;
  /** Fraction of extra claims with a forged iBeacon minor. Default 0. */
  forgedFraction?: number;
  /** User id prefix. Default `user-`. */
  userPrefix?: string;
  seed?: number;
}

function forge(id: string, rng: Rng): string {
  const parts = id.split(':');
  if (parts[0] !== 'ibeacon') return `${id.slice(0, -1)}${(Number.parseInt(id.at(-1)!, 16) + 1) % 10}`;
  const minor = Number(parts[3]);
  let forged = rng.int(1, 0xffff);
  if (forged === minor) forged = (forged % 0xffff) + 1;
  parts[3] = String(forged);
  return parts.join(':');
}

/** A burst of claims, sorted by seenAt. Deterministic for a seed. */
export function claimBurst(opts: ClaimBurstOptions): ShakeClaim[] {
  const rng = new Rng(opts.seed ?? 7);
  const users = opts.users ?? 20;
  const spread = opts.spreadMs ?? 60_000;
  const prefix = opts.userPrefix ?? 'user-';
  const out: ShakeClaim[] = [];
  if (opts.targets.length === 0) return out;
  for (let u = 0; u < users; u++) {
    const userId = `${prefix}${String(u + 1).padStart(4, '0')}`;
    const target = rng.pick(opts.targets);
    const t = opts.at + Math.floor((u * spread) / users) + rng.int(0, 999);
    out.push({ userId, beaconId: target.idAt(t), seenAt: t, intent: 'honest' });
    for (let k = 1; k <= (opts.repeatsPerUser ?? 0); k++) {
      const tk = t + k * rng.int(1500, 4000);
      out.push({ userId, beaconId: target.idAt(tk), seenAt: tk, intent: 'repeat' });
    }
  }
  const n = out.length;
  const replays = Math.round(n * (opts.replayFraction ?? 0));
  const forged = Math.round(n * (opts.forgedFraction ?? 0));
  for (let i = 0; i < replays; i++) {
    const t = opts.at + rng.int(0, spread);
    out.push({
      userId: `${prefix}replay-${i + 1}`,
      beaconId: rng.pick(opts.targets).idAt(t - (opts.replayAgeMs ?? 3_600_000)),
      seenAt: t,
      intent: 'replayed',
    });
  }
  for (let i = 0; i < forged; i++) {
    const t = opts.at + rng.int(0, spread);
    out.push({
      userId: `${prefix}forged-${i + 1}`,
      beaconId: forge(rng.pick(opts.targets).idAt(t), rng),
      seenAt: t,
      intent: 'forged',
    });
  }
  return out.sort((a, b) => a.seenAt - b.seenAt);
}
