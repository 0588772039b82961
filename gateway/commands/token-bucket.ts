export interface TokenBucketOptions {
  /** Most tokens held: the burst allowed after a quiet spell. */
  capacity: number;
  /** Tokens added per second, up to `capacity`. */
  perSecond: number;
  now: () => number;
}

/**
 * A token bucket: at most `capacity + perSecond * t` takes succeed in any
 * interval of `t` seconds. The bucket starts full. Time that goes backwards
 * (a clock step) adds nothing.
 */
export class TokenBucket {
  readonly #o: TokenBucketOptions;
  #tokens: number;
  #at: number;

  constructor(opts: TokenBucketOptions) {
    if (!(opts.capacity >= 1) || !(opts.perSecond > 0)) {
      throw new RangeError(
        `a token bucket needs capacity >= 1 and perSecond > 0; got ${opts.capacity} and ${opts.perSecond}`,
      );
    }
    this.#o = opts;
    this.#tokens = opts.capacity;
    this.#at = opts.now();
  }

  /** Takes one token if there is one. */
  take(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Milliseconds until a token is available (0 when one is). */
  msUntilToken(): number {
    this.#refill();
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) / this.#o.perSecond) * 1000);
  }

  #refill(): void {
    const now = this.#o.now();
    const elapsed = now - this.#at;
    if (elapsed <= 0) return;
    this.#at = now;
    this.#tokens = Math.min(this.#o.capacity, this.#tokens + (elapsed / 1000) * this.#o.perSecond);
  }
}
