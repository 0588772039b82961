import type { Clock } from '../../core/clock.ts';
import type { Log } from '../../core/log.ts';
import { retryDelayMs } from './backoff.ts';
import type { AlertQueue, QueuedAlert } from './queue.ts';
import type { AlertSink } from './sink.ts';

/** A sender looks at its queue at least this often (a clock step, a row queued by another part). */
const MAX_IDLE_MS = 60_000;

export interface AlertSenderOptions {
  sink: AlertSink;
  queue: AlertQueue;
  retry: { initialMs: number; maxMs: number };
  log: Log;
  clock?: Pick<Clock, 'wallMs'>;
  random?: () => number;
}

/**
 * Drains one sink's queue: up to `sink.concurrency` alerts at once, each of
 * another condition (queue.due), so one slow or hanging receiver attempt
 * delays nothing but itself; every failure waits its backoff in the queue
 * (next_at) while the rest go on.
 */
export class AlertSender {
  readonly #o: AlertSenderOptions;
  readonly #clock: Pick<Clock, 'wallMs'>;
  readonly #busy = new Set<number>();
  readonly #sending = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #kicked = false;
  #running = false;
  #offReady: (() => void) | undefined;

  constructor(opts: AlertSenderOptions) {
    this.#o = opts;
    this.#clock = opts.clock ?? { wallMs: () => Date.now() };
  }

  get sink(): AlertSink {
    return this.#o.sink;
  }

  /** Ids being sent now (the queue's bound never drops them). */
  get busy(): ReadonlySet<number> {
    return this.#busy;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#offReady = this.#o.sink.onReady(() => this.kick());
    this.kick();
  }

  /** Stops sending: attempts under way are aborted and stay pending, uncounted. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#offReady?.();
    clearTimeout(this.#timer);
    this.#abort.abort();
    await Promise.allSettled([...this.#sending]);
  }

  /** Look at the queue soon (many kicks in one turn make one look). */
  kick(): void {
    if (this.#kicked || !this.#running) return;
    this.#kicked = true;
    setImmediate(() => {
      this.#kicked = false;
      this.#pump();
    });
  }

  #pump(): void {
    if (!this.#running) return;
    clearTimeout(this.#timer);
    const { sink, queue } = this.#o;
    if (!sink.ready()) return; // onReady kicks again.
    const now = this.#clock.wallMs();
    const free = sink.concurrency - this.#busy.size;
    if (free > 0) {
      for (const alert of queue.due(sink.id, now, this.#busy, free)) this.#start(alert);
    }
    const next = queue.nextDueAfter(sink.id, now);
    const wait = next === undefined ? MAX_IDLE_MS : Math.min(MAX_IDLE_MS, next - now);
    this.#timer = setTimeout(() => this.#pump(), wait);
    this.#timer.unref();
  }

  #start(alert: QueuedAlert): void {
    this.#busy.add(alert.id);
    const p = this.#deliver(alert).finally(() => {
      this.#busy.delete(alert.id);
      this.#sending.delete(p);
      this.kick();
    });
    this.#sending.add(p);
  }

  async #deliver(alert: QueuedAlert): Promise<void> {
    const { sink, queue, log } = this.#o;
    const outcome = await sink.send(alert.body, this.#abort.signal).catch((err: unknown) => ({
      ok: false as const,
      retry: true,
      error: err as Error,
      retryAfterMs: undefined,
    }));
    if (!this.#running) return; // Stopped mid-send: the row stays pending; the next start sends it.
    const now = this.#clock.wallMs();
    const where = {
      sink: sink.id,
      target: sink.target,
      alertId: alert.alertId,
      key: alert.key,
      state: alert.state,
    };
    try {
      if (outcome.ok) {
        queue.delivered(alert.id, sink.id, now);
        log.info({ ...where, attempts: alert.attempts + 1 }, 'alert delivered');
      } else if (outcome.retry) {
        const backoff = retryDelayMs(alert.attempts + 1, this.#o.retry, this.#o.random);
        const delay = Math.min(Math.max(backoff, outcome.retryAfterMs ?? 0), this.#o.retry.maxMs);
        queue.retryAt(alert.id, now + delay, outcome.error.message);
        log.warn(
          { ...where, err: outcome.error, attempts: alert.attempts + 1, retryInMs: delay },
          'alert not delivered; retrying',
        );
      } else {
        queue.failed(alert.id, sink.id, now, outcome.error.message);
        log.error(
          { ...where, err: outcome.error, attempts: alert.attempts + 1 },
          'alert refused: not retried',
        );
      }
    } catch (err) {
      // A full disk: the row stays as it was and is tried again (a delivered one may then arrive twice).
      log.error({ ...where, err }, 'could not record an alert delivery');
    }
  }
}
