/**
 * Coupon upkeep: every minute, coupons past their validity become expired
 * (reported to the platform) and shake claims past retention are purged
 * (the engine's `expire` and `purge`), then the link is woken for what that
 * queued.
 */
import type { Log } from '../../core/log.ts';
import type { CouponEngine } from './engine.ts';

export interface CouponUpkeepOptions {
  coupons: Pick<CouponEngine, 'expire' | 'purge'>;
  /** Wakes the platform link after events were queued. */
  notify: () => void;
  log: Log;
  /** Default 60 s. */
  everyMs?: number;
  now?: () => number;
}

export class CouponUpkeep {
  readonly #o: CouponUpkeepOptions;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: CouponUpkeepOptions) {
    this.#o = opts;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.runOnce(), this.#o.everyMs ?? 60_000);
    // Upkeep alone must not keep the process alive.
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** One round of upkeep (what the timer runs). A failure is logged; the next round tries again. */
  runOnce(): void {
    const now = (this.#o.now ?? Date.now)();
    try {
      this.#o.coupons.expire(now);
      this.#o.coupons.purge(now);
      this.#o.notify();
    } catch (err) {
      this.#o.log.error({ err }, 'coupon upkeep failed');
    }
  }
}
