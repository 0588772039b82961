/**
 * Checks the gateway's wall clock against the platform's: every signed
 * command carries the platform's `issuedAt` (contract/commands.ts), so each
 * one is a time sample from a clock we trust. Edge boxes without an RTC
 * boot with a wrong wall clock and jump when NTP corrects it; durations
 * never depend on it (core/clock.ts), but what is shown to people and put
 * on the wire does, so a wrong clock is reported in /health and the status
 * message.
 *
 * Estimate: a command is signed before it arrives, so `issuedAt` minus the
 * monotonic time of arrival is at most the platform's wall-minus-monotonic
 * offset; the largest of recent samples is the closest to it (the command
 * that travelled fastest). The skew is the gateway's wall-minus-monotonic
 * offset now minus that estimate: a wall clock set after the last command
 * shows at once, without waiting for the next one.
 */
import { type Clock, systemClock } from '../../core/clock.ts';
import type { Log } from '../../core/log.ts';

export interface ClockWatchOptions {
  /** Skew tolerated before the clock is called wrong (the command guard's allowance is a good value). */
  maxSkewMs: number;
  clock?: Clock;
  log?: Log;
  /** Samples kept (the most recent), default 32. */
  window?: number;
}

export interface ClockStatus {
  /** False once the wall clock is known to disagree with the platform by more than maxSkewMs. */
  ok: boolean;
  /** Gateway wall clock minus platform clock, ms (positive: the gateway is ahead); null before any sample. */
  skewMs: number | null;
  maxSkewMs: number;
  samples: number;
  /** A sentence for people when not ok. */
  message?: string;
}

export class ClockWatch {
  readonly #clock: Clock;
  readonly #maxSkewMs: number;
  readonly #window: number;
  readonly #log: Log | undefined;
  /** issuedAt - monoMs at arrival, newest last. */
  readonly #samples: number[] = [];
  #wasOk = true;

  constructor(opts: ClockWatchOptions) {
    if (!Number.isFinite(opts.maxSkewMs) || opts.maxSkewMs < 0) {
      throw new RangeError(`ClockWatch maxSkewMs must be a non-negative number, got ${opts.maxSkewMs}`);
    }
    this.#clock = opts.clock ?? systemClock;
    this.#maxSkewMs = opts.maxSkewMs;
    this.#window = opts.window ?? 32;
    this.#log = opts.log;
  }

  /**
   * One signed command's `issuedAt` (Unix ms), as it arrives, whether the
   * command was then accepted or refused as not yet valid: its signature
   * was checked, so its time can be trusted.
   */
  observe(issuedAt: number): void {
    if (!Number.isFinite(issuedAt)) return;
    this.#samples.push(issuedAt - this.#clock.monoMs());
    if (this.#samples.length > this.#window) this.#samples.shift();
    const s = this.status();
    if (s.ok !== this.#wasOk) {
      this.#wasOk = s.ok;
      if (s.ok) this.#log?.info({ skewMs: s.skewMs }, 'wall clock agrees with the platform again');
      else this.#log?.warn({ skewMs: s.skewMs, maxSkewMs: this.#maxSkewMs }, s.message);
    }
  }

  status(): ClockStatus {
    if (this.#samples.length === 0) {
      return { ok: true, skewMs: null, maxSkewMs: this.#maxSkewMs, samples: 0 };
    }
    const platformMinusMono = Math.max(...this.#samples);
    const skewMs = Math.round(this.#clock.wallMs() - this.#clock.monoMs() - platformMinusMono);
    const ok = Math.abs(skewMs) <= this.#maxSkewMs;
    const base = { ok, skewMs, maxSkewMs: this.#maxSkewMs, samples: this.#samples.length };
    if (ok) return base;
    const dir = skewMs > 0 ? 'ahead of' : 'behind';
    return {
      ...base,
      message: `the gateway wall clock is ${Math.round(Math.abs(skewMs) / 1000)} s ${dir} the platform's (more than the ${this.#maxSkewMs} ms allowed); order timers use the monotonic clock, but times shown and sent are off`,
    };
  }
}
