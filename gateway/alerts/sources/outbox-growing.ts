import type { Clock } from '../../../core/clock.ts';
import type { ConditionBoard } from '../../conditions/conditions.ts';

/** How often the outbox depth is looked at, at most (and at least every tenth of `forMs`). */
const MAX_SAMPLE_EVERY_MS = 10_000;

/**
 * `outbox_growing`: more than `depth` events wait for the platform and the
 * count is higher than it was `forMs` ago, every sample in between above
 * `depth` (the platform is not keeping up, or the link has been down that
 * long). A backlog that is draining raises nothing. Cleared once the count
 * is back at or below `depth`.
 */
export class OutboxGrowingSource {
  readonly #board: ConditionBoard;
  readonly #pending: () => number;
  readonly #depth: number;
  readonly #forMs: number;
  readonly #clock: Pick<Clock, 'monoMs'>;
  /** Since when every sample was above `depth`, and the count then. */
  #window: { at: number; count: number } | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: {
    board: ConditionBoard;
    /** Events waiting in the outbox (Outbox.stats().pending). */
    pending: () => number;
    depth: number;
    forMs: number;
    clock?: Pick<Clock, 'monoMs'>;
  }) {
    this.#board = opts.board;
    this.#pending = opts.pending;
    this.#depth = opts.depth;
    this.#forMs = opts.forMs;
    this.#clock = opts.clock ?? { monoMs: () => performance.now() };
  }

  start(): void {
    if (this.#timer) return;
    const every = Math.max(100, Math.min(MAX_SAMPLE_EVERY_MS, Math.floor(this.#forMs / 10)));
    this.#timer = setInterval(() => this.check(), every);
    this.#timer.unref();
    this.check();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One sample (the timer calls it; tests call it with their clock). */
  check(): void {
    const count = this.#pending();
    const now = this.#clock.monoMs();
    const key = { kind: 'outbox_growing' as const };
    if (count <= this.#depth) {
      this.#window = undefined;
      this.#board.clear(key);
      return;
    }
    if (!this.#window) {
      this.#window = { at: now, count };
      return;
    }
    if (now - this.#window.at < this.#forMs) return;
    const was = this.#window.count;
    if (count > was || this.#board.isActive(key)) {
      this.#board.raise({
        ...key,
        severity: 'warning',
        detail: `${count} events wait for the platform (more than ${this.#depth}; ${was} ${Math.round((now - this.#window.at) / 1000)} s ago)`,
      });
    }
    // The next comparison is over the next window: a backlog that stops rising does not raise anew.
    if (!this.#board.isActive(key)) this.#window = { at: now, count };
  }
}
