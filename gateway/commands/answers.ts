import {
  COMMAND_ANSWER_REASON_MAX,
  COMMAND_ANSWER_TOPIC_MAX,
  COMMAND_SUMMARY_MAX_CODES,
} from '../../contract/events.ts';
import type { Log } from '../../core/log.ts';
import type { GuardedCommand, GuardResult } from '../link/command-guard.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { Db } from '../store/db.ts';
import { inTx } from '../store/tx.ts';
import { excerpt } from './excerpt.ts';
import { TokenBucket } from './token-bucket.ts';

export type CommandRefusal = Extract<GuardResult, { ok: false }>;

export interface BucketLimits {
  /** Answers stored at once after a quiet spell. */
  burst: number;
  /** Answers stored per second once the burst is spent. */
  perSecond: number;
}

export interface CommandAnswerLimits {
  /**
   * Refusals (`command.rejected`): anyone who can publish on the broker can
   * send junk, so this bucket is small. Default burst 20, 1 per second.
   */
  refusals: BucketLimits;
  /**
   * Answers to validly signed commands that are not acted on: deferrals
   * (`command.deferred`) and the state sent for a redelivered order
   * (`order.state`). Their own bucket, so a flood of forgeries cannot starve
   * them. Default burst 100, 20 per second.
   */
  answers: BucketLimits;
  /** How long after the first suppressed answer the summary is stored. Default 5000. */
  summaryAfterMs: number;
}

export const DEFAULT_ANSWER_LIMITS: CommandAnswerLimits = {
  refusals: { burst: 20, perSecond: 1 },
  answers: { burst: 100, perSecond: 20 },
  summaryAfterMs: 5000,
};

export interface CommandAnswersOptions {
  db: Db;
  outbox: Outbox;
  log: Log;
  /** A summary was queued outside a command's transaction: publish it. */
  notify: () => void;
  limits?: Partial<CommandAnswerLimits>;
  now?: () => number;
}

/** The code a redelivery answered with its state is counted under in a summary. */
const REDELIVERY_CODE = 0;

interface Suppressed {
  count: number;
  byCode: Map<number, number>;
  firstAt: number;
  lastAt: number;
  lastTopic: string;
}

/**
 * Answers the platform's commands that are not acted on, with bounded cost
 * per gateway. Every refusal, deferral and redelivery answer is a critical
 * outbox row (never dropped), so an unbounded stream of them, e.g. junk with
 * a 60 KB topic, would grow the store without limit. Here each kind draws
 * from a token bucket; what is over the limit is only counted, in memory,
 * and summarised in one `command.suppressed` event `summaryAfterMs` later.
 * What is echoed of a command is an excerpt (contract/events.ts bounds).
 *
 * Dropping an answer is safe by the retry rules (docs/retry-rules.md): the
 * platform treats no answer like a deferral and retries the same signed
 * command, which is never acted on twice.
 */
export class CommandAnswers {
  readonly #o: CommandAnswersOptions;
  readonly #limits: CommandAnswerLimits;
  readonly #refusals: TokenBucket;
  readonly #answers: TokenBucket;
  readonly #now: () => number;
  #suppressed: Suppressed | undefined;
  #summaryTimer: NodeJS.Timeout | undefined;

  constructor(opts: CommandAnswersOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    this.#limits = { ...DEFAULT_ANSWER_LIMITS, ...opts.limits };
    const bucket = (l: BucketLimits) =>
      new TokenBucket({ capacity: l.burst, perSecond: l.perSecond, now: this.#now });
    this.#refusals = bucket(this.#limits.refusals);
    this.#answers = bucket(this.#limits.answers);
  }

  /**
   * A refused or deferred command: queues `command.rejected` or
   * `command.deferred`, in the caller's transaction, when the rate limit
   * allows; else counts it for the summary.
   */
  refused(topic: string, r: CommandRefusal): void {
    const deferred = r.retryAfterMs !== undefined;
    const bucket = deferred ? this.#answers : this.#refusals;
    if (!bucket.take()) {
      this.#suppress(topic, r.code);
      return;
    }
    const about = {
      topic: excerpt(topic, COMMAND_ANSWER_TOPIC_MAX),
      ...(r.commandId !== undefined ? { commandId: excerpt(r.commandId, 64) } : {}),
      ...(r.commandType !== undefined ? { commandType: excerpt(r.commandType, 64) } : {}),
    };
    const reason = excerpt(r.reason, COMMAND_ANSWER_REASON_MAX);
    try {
      // Its own savepoint: an answer that cannot be queued leaves no half-written row.
      inTx(this.#o.db, () => {
        if (r.retryAfterMs !== undefined) {
          this.#o.outbox.append('command.deferred', {
            ...about,
            code: r.code,
            reason,
            retryAfterMs: r.retryAfterMs,
          });
        } else {
          this.#o.outbox.append('command.rejected', { ...about, code: r.code, reason });
        }
      });
    } catch (err) {
      this.#o.log.error({ err, topic: about.topic }, 'could not queue the answer to a refused command');
      return;
    }
    this.#o.log.warn(
      { code: r.code, reason, topic: about.topic, commandId: about.commandId },
      deferred ? 'deferred a platform command' : 'refused a platform command',
    );
  }

  /**
   * An identical copy of an accepted command arrived. True when it is to
   * be answered now: always for a type whose redelivery needs no event, and
   * for `order.paid` (answered with an `order.state` row) while the rate
   * limit allows; else it is counted for the summary.
   */
  mayAnswerRedelivery(topic: string, command: GuardedCommand): boolean {
    if (command.type !== 'order.paid') return true;
    if (this.#answers.take()) return true;
    this.#suppress(topic, REDELIVERY_CODE);
    return false;
  }

  /** Stores the summary now if one is due (also run by its timer). */
  flush(): void {
    clearTimeout(this.#summaryTimer);
    this.#summaryTimer = undefined;
    const s = this.#suppressed;
    if (!s) return;
    this.#suppressed = undefined;
    const byCode = [...s.byCode]
      .sort((a, b) => b[1] - a[1])
      .slice(0, COMMAND_SUMMARY_MAX_CODES)
      .map(([code, count]) => ({ code, count }));
    try {
      inTx(this.#o.db, () =>
        this.#o.outbox.append('command.suppressed', {
          count: s.count,
          byCode,
          firstAt: s.firstAt,
          lastAt: s.lastAt,
          lastTopic: s.lastTopic,
        }),
      );
    } catch (err) {
      this.#o.log.error({ err, count: s.count }, 'could not queue the summary of suppressed command answers');
      return;
    }
    this.#o.log.warn(
      { count: s.count, byCode, lastTopic: s.lastTopic },
      'command answers over the rate limit were summarised, not stored one by one',
    );
    this.#o.notify();
  }

  /** Drops the summary timer; a pending summary is stored first. */
  stop(): void {
    this.flush();
  }

  #suppress(topic: string, code: number): void {
    const now = this.#now();
    if (!this.#suppressed) {
      this.#suppressed = { count: 0, byCode: new Map(), firstAt: now, lastAt: now, lastTopic: '' };
    }
    const s = this.#suppressed;
    s.count++;
    s.lastAt = now;
    s.lastTopic = excerpt(topic, COMMAND_ANSWER_TOPIC_MAX);
    // Bounded: codes come from the catalogue, but stay safe if one did not.
    if (s.byCode.has(code) || s.byCode.size < COMMAND_SUMMARY_MAX_CODES) {
      s.byCode.set(code, (s.byCode.get(code) ?? 0) + 1);
    }
    if (!this.#summaryTimer) {
      this.#summaryTimer = setTimeout(() => this.flush(), this.#limits.summaryAfterMs);
      this.#summaryTimer.unref();
    }
  }
}
