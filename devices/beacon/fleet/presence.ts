/**
 * Whether one beacon is present, with hysteresis: a single stray report
 * (a reflection, a passer-by's phone relaying nothing) does not make a
 * beacon found, and a short fade does not make it lost. Found after K
 * sightings within a window; lost after T without one. Pure: time comes
 * from the callers.
 */

export interface PresenceRules {
  /** Found after this many sightings within `foundWithinMs`. */
  foundAfterSightings: number;
  foundWithinMs: number;
  /** Lost after no sighting for this long. */
  lostAfterMs: number;
}

/** The rules with their defaults (3 sightings within 5 s; lost after 15 s), checked. */
export function presenceRules(opts: Partial<PresenceRules> = {}): PresenceRules {
  const rules: PresenceRules = {
    foundAfterSightings: opts.foundAfterSightings ?? 3,
    foundWithinMs: opts.foundWithinMs ?? 5000,
    lostAfterMs: opts.lostAfterMs ?? 15_000,
  };
  if (!Number.isInteger(rules.foundAfterSightings) || rules.foundAfterSightings < 1) {
    throw new RangeError('foundAfterSightings must be >= 1');
  }
  if (!(rules.lostAfterMs > 0)) throw new RangeError('lostAfterMs must be positive');
  return rules;
}

/** One beacon's presence and sighting history. */
export class PresenceTracker {
  readonly #rules: PresenceRules;
  /** Sighting times while absent, newest last, at most foundAfterSightings of them. */
  #recent: number[] = [];
  #present = false;
  #firstSeenAt: number | undefined;
  #lastSeenAt: number | undefined;
  #sightings = 0;

  constructor(rules: PresenceRules) {
    this.#rules = rules;
  }

  get present(): boolean {
    return this.#present;
  }
  get firstSeenAt(): number | undefined {
    return this.#firstSeenAt;
  }
  /** The latest sighting time (a report arriving out of order does not move it back). */
  get lastSeenAt(): number | undefined {
    return this.#lastSeenAt;
  }
  get sightings(): number {
    return this.#sightings;
  }

  /** True when the beacon is present but has been silent for longer than lostAfterMs at `now`. */
  overdue(now: number): boolean {
    return (
      this.#present && this.#lastSeenAt !== undefined && now - this.#lastSeenAt > this.#rules.lostAfterMs
    );
  }

  /** Marks the beacon lost at `now`; returns how long it had been silent. */
  lose(now: number): number {
    this.#present = false;
    this.#recent = [];
    return now - (this.#lastSeenAt ?? now);
  }

  /** Counts a sighting at `at` (whether or not it changes presence). */
  record(at: number): void {
    this.#sightings++;
    this.#firstSeenAt ??= at;
    if (this.#lastSeenAt === undefined || at >= this.#lastSeenAt) this.#lastSeenAt = at;
  }

  /**
   * The hysteresis for a sighting at `at` (after `record`): true when it is
   * the K-th within the window and the absent beacon is now found.
   */
  arrive(at: number): boolean {
    if (this.#present) return false;
    const r = this.#recent;
    r.push(at);
    while (r.length > 0 && at - r[0]! > this.#rules.foundWithinMs) r.shift();
    if (r.length > this.#rules.foundAfterSightings) r.shift();
    if (r.length < this.#rules.foundAfterSightings) return false;
    this.#present = true;
    this.#recent = [];
    return true;
  }
}
