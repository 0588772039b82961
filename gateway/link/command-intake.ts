import { COMMAND_ANSWER_TOPIC_MAX } from '../../contract/events.ts';
import { verifyBody, verifyBodyAsync } from '../../contract/signing.ts';
import type { Log } from '../../core/log.ts';
import { CommandAnswers } from '../commands/answers.ts';
import { excerpt } from '../commands/excerpt.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { Db } from '../store/db.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import { inTx } from '../store/tx.ts';
import type { CommandGuard, GuardResult } from './command-guard.ts';

export type AcceptedCommand = Extract<GuardResult, { ok: true }>['command'];

/**
 * The connection's output as the intake holds it back: the mqtt.js client's
 * stream. Corked, nothing it writes (a PUBACK included) leaves.
 */
export interface CorkableOutput {
  cork(): void;
  uncork(): void;
  destroy(): unknown;
}

export interface CommandIntakeOptions {
  guard: CommandGuard;
  /** The store the replay records and command.rejected events are written to. */
  db: Db;
  outbox: Outbox;
  /** When given, the commands decided in one turn share its one commit. */
  commits?: Pick<GroupCommit, 'run'> | undefined;
  log: Log;
  /** Hands an accepted command to its handlers, inside the command's transaction; must not throw. */
  accept: (command: AcceptedCommand) => void;
  /**
   * An identical copy of an accepted command (a QoS 1 redelivery, a platform
   * retry): its handlers answer it without acting again, inside the copy's
   * transaction; must not throw. Default: not answered.
   */
  redelivered?: (command: AcceptedCommand) => void;
  /**
   * Queues the answers to commands that are not acted on (refusals,
   * deferrals), rate-limited and bounded. Default: a CommandAnswers on
   * `db` and `outbox` with the default limits.
   */
  answers?: CommandAnswers;
  /** A command's outcome is committed: the events it queued may go out with the next drain. */
  decided: () => void;
  /**
   * The Ed25519 checks, inline and on the thread pool; default the real
   * ones. Tests pass counting wrappers to see which path a command took.
   */
  verify?: { inline: typeof verifyBody; pooled: typeof verifyBodyAsync };
}

/**
 * Decides the platform's commands (`cmd/{type}`) and records each durably
 * before the broker is told it arrived. With group commit, mqtt.js sends
 * the PUBACK as soon as its message handler returns, and a PUBACK tells the
 * broker it may forget the command (MQTT 3.1.1 section 4.3.2), so the
 * connection's output is corked until the command's transaction has
 * committed. If the commit fails the connection is dropped before the held
 * PUBACK goes out, and the persistent session delivers the command again.
 */
export class CommandIntake {
  readonly #opts: CommandIntakeOptions;
  readonly #verifyInline: typeof verifyBody;
  readonly #verifyPooled: typeof verifyBodyAsync;
  readonly #answers: CommandAnswers;
  /** Commands are decided in arrival order; each waits for the one before it. */
  #queue: Promise<void> = Promise.resolve();
  /** Commands received and not yet handed to the group commit. */
  #waiting = 0;

  constructor(opts: CommandIntakeOptions) {
    this.#opts = opts;
    this.#verifyInline = opts.verify?.inline ?? verifyBody;
    this.#verifyPooled = opts.verify?.pooled ?? verifyBodyAsync;
    this.#answers =
      opts.answers ??
      new CommandAnswers({ db: opts.db, outbox: opts.outbox, log: opts.log, notify: opts.decided });
  }

  /** Stores a pending summary of suppressed answers and drops its timer. */
  stop(): void {
    this.#answers.stop();
  }

  /**
   * One command as it arrived on `topic`. `output` is the connection it
   * came on; without it (or without group commit) the command is decided
   * and committed before this returns.
   */
  receive(
    topic: string,
    type: string | undefined,
    payload: Buffer,
    output: CorkableOutput | undefined,
  ): void {
    const guard = this.#opts.guard;
    const commits = this.#opts.commits;
    if (!commits || !output) {
      const result = this.#decideInSavepoint(topic, () => guard.check(type, payload));
      if (result) this.#report(topic, result);
      this.#opts.decided();
      return;
    }
    // Group commit: the commands decided in one turn (a burst arrives many to
    // a socket read) share that turn's one transaction. Cork counts nest; the
    // last uncork writes everything at once.
    output.cork();
    // Commands are decided one after another in the order they arrived, so a
    // replay or a duplicate order is judged against everything received
    // before it. A command with nothing ahead of it has its Ed25519 check
    // (~60 us) done here; behind others (a burst) the check runs on the
    // thread pool, in parallel with theirs. Not always the pool: waking a
    // pool thread on a busy 2-core box took up to 3 ms at p99, far more than
    // the check itself, which is what a lone order waits for.
    const opened = guard.open(payload);
    let verdict: Promise<() => GuardResult>;
    if (!opened.ok) {
      verdict = Promise.resolve(() => opened);
    } else if (this.#waiting === 0) {
      const valid = this.#verifyInline(opened.opened.body, opened.opened.sig, opened.opened.key);
      verdict = Promise.resolve(() => guard.decide(type, opened.opened, valid));
    } else {
      verdict = this.#verifyPooled(opened.opened.body, opened.opened.sig, opened.opened.key).then(
        (valid) => () => guard.decide(type, opened.opened, valid),
      );
    }
    this.#waiting++;
    this.#queue = this.#queue
      .then(() => verdict)
      .then((decide) => {
        this.#waiting--;
        commits
          // #decideInSavepoint is its own savepoint and rolls back what it
          // wrote when its handling throws: the batch needs no second one.
          .run(() => this.#decideInSavepoint(topic, decide), { ownSavepoint: true })
          .then(
            (result) => {
              output.uncork();
              if (result) this.#report(topic, result);
              this.#opts.decided();
            },
            (err: unknown) => {
              // The commit failed: nothing was recorded. Drop the connection
              // before the held PUBACK goes out, so the broker delivers the
              // command again on the reconnect (persistent session).
              this.#opts.log.error(
                { err, topic: excerpt(topic, COMMAND_ANSWER_TOPIC_MAX) },
                'could not record a platform command; reconnecting for redelivery',
              );
              output.destroy();
              output.uncork();
            },
          );
      })
      // Never leave the queue rejected: every later command would wait on it.
      .catch((err: unknown) =>
        this.#opts.log.error(
          { err, topic: excerpt(topic, COMMAND_ANSWER_TOPIC_MAX) },
          'failed to queue a platform command',
        ),
      );
  }

  /**
   * Decides a command in its own savepoint. One whose handling throws (a
   * bug, not a storage failure) is rolled back alone and logged, as without
   * group commit: only a failed COMMIT rejects, so only that drops the
   * connection for redelivery.
   */
  #decideInSavepoint(topic: string, check: () => GuardResult): GuardResult | null {
    try {
      return inTx(this.#opts.db, () => this.#decide(topic, check));
    } catch (err) {
      this.#opts.log.error(
        { err, topic: excerpt(topic, COMMAND_ANSWER_TOPIC_MAX) },
        'failed to handle a platform command',
      );
      return null;
    }
  }

  /**
   * Runs the guard's verdict and hands an accepted command to the handlers
   * (a redelivered one to those that answer it), inside the caller's
   * transaction: the replay record, whatever the handlers write (the
   * ledger's own transactions nest as savepoints) and a refusal's or
   * deferral's event commit together. Handlers are synchronous by contract.
   */
  #decide(topic: string, check: () => GuardResult): GuardResult {
    const result = check();
    if (result.ok && !result.redelivered) {
      this.#opts.accept(result.command);
    } else if (result.ok) {
      if (this.#answers.mayAnswerRedelivery(topic, result.command)) this.#opts.redelivered?.(result.command);
    } else {
      // command.rejected or command.deferred, within the rate limit; never throws.
      this.#answers.refused(topic, result);
    }
    return result;
  }

  #report(_topic: string, result: GuardResult): void {
    // Refusals are logged by the answers, within their rate limit.
    if (!result.ok) return;
    this.#opts.log.debug(
      { commandId: result.command.id, commandType: result.command.type, redelivered: result.redelivered },
      result.redelivered ? 'a platform command arrived again' : 'accepted a platform command',
    );
  }
}
