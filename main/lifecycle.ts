/**
 * Start and stop order for the composition root: parts start one after the
 * other, stop in reverse, and a part that fails to start makes the ones
 * already running stop again before the error goes on, so a failed start
 * leaves no port open, no timer running and no file locked.
 */
import type { Log } from '../core/log.ts';

/** Something the root starts and stops. Its constructor (if any) only stores what it was given. */
export interface Part {
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

export class Lifecycle {
  readonly #log: Log;
  /** Names and stops of the started parts, in start order. */
  readonly #running: Array<{ name: string; stop: () => void | Promise<void> }> = [];
  #stopping: Promise<void> | undefined;

  constructor(log: Log) {
    this.#log = log;
  }

  /** Names of the running parts, in start order. */
  get running(): string[] {
    return this.#running.map((p) => p.name);
  }

  /** Starts `part`. When it fails, stops every part started before it, then rethrows. */
  async start<P extends Part>(name: string, part: P): Promise<P> {
    await this.step(
      name,
      () => part.start(),
      () => part.stop(),
    );
    return part;
  }

  /**
   * Runs `start` and remembers `stop` for its result: for what is started by
   * a function (a store opened, a server listening) rather than a part.
   */
  async step<T>(
    name: string,
    start: () => T | Promise<T>,
    stop: (started: T) => void | Promise<void>,
  ): Promise<T> {
    if (this.#stopping) throw new Error(`cannot start ${name}: the gateway is stopping`);
    let started: T;
    try {
      started = await start();
    } catch (err) {
      this.#log.error({ err, part: name }, `${name} failed to start; stopping what already started`);
      // A part that also fails to stop was logged by #stopAll; the start failure is the one to report.
      await this.stop().catch(() => {});
      throw err;
    }
    this.#running.push({ name, stop: () => stop(started) });
    return started;
  }

  /**
   * Stops the running parts in reverse start order. Every part is stopped
   * even when one fails; the first failure is rethrown at the end. A second
   * call waits for the first.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stopAll();
    return this.#stopping;
  }

  async #stopAll(): Promise<void> {
    let first: unknown;
    let failed = false;
    for (const part of this.#running.splice(0).reverse()) {
      try {
        await part.stop();
      } catch (err) {
        this.#log.error({ err, part: part.name }, `${part.name} failed to stop`);
        if (!failed) first = err;
        failed = true;
      }
    }
    if (failed) throw first;
  }
}

/**
 * Several parts started together (the machines: each opens its own port).
 * When one fails, the others that started are stopped before the error goes
 * on, as Lifecycle does for parts in sequence.
 */
export class PartGroup implements Part {
  readonly #parts: readonly Part[];
  #started: Part[] = [];

  constructor(parts: readonly Part[]) {
    this.#parts = parts;
  }

  async start(): Promise<void> {
    const results = await Promise.allSettled(this.#parts.map(async (p) => p.start()));
    this.#started = this.#parts.filter((_, i) => results[i]!.status === 'fulfilled');
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) {
      // The start failure is the one to report; one of the others failing to stop as well changes nothing.
      await this.stop().catch(() => {});
      throw failure.reason;
    }
  }

  async stop(): Promise<void> {
    const started = this.#started;
    this.#started = [];
    const results = await Promise.allSettled(started.map(async (p) => p.stop()));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
  }
}
