import { statfsSync } from 'node:fs';
import type { Log } from '../../core/log.ts';

export interface DiskReserveOptions {
  /** The data directory (where the store and its WAL grow). */
  dir: string;
  /** Free bytes kept for the outcomes of vends already under way (config `store.reserveBytes`). */
  reserveBytes: number;
  log: Log;
  /** Seam for tests: free bytes available to this process on `dir`. Default statfs. */
  freeBytes?: (dir: string) => number;
  /** A reading is reused for this long. Default 250 ms. */
  maxAgeMs?: number;
  /** How often the timer reads and reports changes. Default 2000 ms. */
  watchEveryMs?: number;
  /**
   * Called by the timer while below the reserve, to give space back (the
   * gateway checkpoints and truncates the WAL, which only grows otherwise).
   */
  reclaim?: () => void;
  now?: () => number;
}

export interface DiskReserveState {
  freeBytes: number;
  reserveBytes: number;
  belowReserve: boolean;
  /** When the free space last fell below the reserve, if it is below now. */
  belowSince: number | undefined;
}

/** Free bytes for an unprivileged writer: statfs f_bavail * f_bsize (root's own reserve not counted). */
export function statfsFreeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/**
 * The free-space reserve of the data directory. A write that fails for want
 * of space fails half-way through a vend's life: the order is paid and
 * dispensing, and its outcome has nowhere to go. So new paid orders are
 * refused while the free space is below the reserve, which is left for the
 * outcomes, refunds and events of the orders already taken.
 */
export class DiskReserve {
  readonly #opts: Required<Omit<DiskReserveOptions, 'reclaim'>> & Pick<DiskReserveOptions, 'reclaim'>;
  #free = Number.POSITIVE_INFINITY;
  #readAt = Number.NEGATIVE_INFINITY;
  #belowSince: number | undefined;
  #reported = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: DiskReserveOptions) {
    this.#opts = { freeBytes: statfsFreeBytes, maxAgeMs: 250, watchEveryMs: 2000, now: Date.now, ...opts };
  }

  /** True when new paid orders must be refused. Reads statfs when the last reading is stale. */
  get belowReserve(): boolean {
    this.#read(false);
    return this.#belowSince !== undefined;
  }

  state(): DiskReserveState {
    this.#read(false);
    return {
      freeBytes: Number.isFinite(this.#free) ? this.#free : -1,
      reserveBytes: this.#opts.reserveBytes,
      belowReserve: this.#belowSince !== undefined,
      belowSince: this.#belowSince,
    };
  }

  /** Watches the free space, logs each crossing of the reserve once, and reclaims while below it. */
  start(): void {
    this.#read(true);
    this.#report();
    this.#timer = setInterval(() => {
      this.#read(true);
      if (this.#belowSince !== undefined) {
        try {
          this.#opts.reclaim?.();
        } catch (err) {
          this.#opts.log.debug({ err: (err as Error).message }, 'reclaiming space failed');
        }
        this.#read(true);
      }
      this.#report();
    }, this.#opts.watchEveryMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #read(force: boolean): void {
    const now = this.#opts.now();
    if (!force && now - this.#readAt < this.#opts.maxAgeMs) return;
    this.#readAt = now;
    try {
      this.#free = this.#opts.freeBytes(this.#opts.dir);
    } catch (err) {
      // statfs itself failing (the directory vanished) is no reason to refuse money: keep the last reading.
      this.#opts.log.warn({ dir: this.#opts.dir, err: (err as Error).message }, 'cannot read free space');
      return;
    }
    const below = this.#free < this.#opts.reserveBytes;
    if (below && this.#belowSince === undefined) this.#belowSince = now;
    if (!below) this.#belowSince = undefined;
  }

  #report(): void {
    const below = this.#belowSince !== undefined;
    if (below === this.#reported) return;
    this.#reported = below;
    const ctx = { dir: this.#opts.dir, freeBytes: this.#free, reserveBytes: this.#opts.reserveBytes };
    if (below)
      this.#opts.log.error(
        ctx,
        'free space on the data directory is below store.reserveBytes: new paid orders are refused until space is freed',
      );
    else this.#opts.log.info(ctx, 'free space is back above store.reserveBytes: taking new orders again');
  }
}
