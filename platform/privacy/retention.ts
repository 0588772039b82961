/**
 * Retention: the platform keeps what the books need and forgets the rest.
 * Once a day (and once at start) events and provider notifications older
 * than the retention period are deleted, and final orders lose their
 * payer hash (the pseudonymous link to a person); their money facts stay
 * for reconciliation. The gateways' sequence watermarks live in their own
 * table, so deleting old events never lets an old sequence number in again.
 */
import type { Log } from '../../core/log.ts';
import type { Store } from '../store/port.ts';

const DAY_MS = 24 * 3600_000;

export interface RetentionOptions {
  store: Pick<Store, 'purge'>;
  retentionDays: number;
  log: Log;
  now?: () => number;
  /** Default once a day. */
  everyMs?: number;
}

export class RetentionJob {
  readonly #o: RetentionOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(opts: RetentionOptions) {
    this.#o = opts;
  }

  start(): void {
    void this.runOnce();
    this.#timer = setInterval(() => void this.runOnce(), this.#o.everyMs ?? DAY_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#running;
  }

  /** One purge; a failure is logged and the next run tries again. */
  runOnce(): Promise<void> {
    if (this.#running) return this.#running;
    const before = (this.#o.now ?? Date.now)() - this.#o.retentionDays * DAY_MS;
    this.#running = this.#o.store
      .purge(before)
      .then(
        (r) => {
          if (r.events + r.notifications + r.payerHashesCleared > 0) {
            this.#o.log.info({ ...r, before, retentionDays: this.#o.retentionDays }, 'retention purge done');
          }
        },
        (err: unknown) =>
          this.#o.log.error({ err: (err as Error).message }, 'retention purge failed; retrying tomorrow'),
      )
      .finally(() => {
        this.#running = undefined;
      });
    return this.#running;
  }
}
