import type { Db } from './db.ts';
import { inTx } from './tx.ts';

export interface GroupCommitUnitOptions {
  /**
   * The work runs all its writes in its own transaction (inTx) and writes
   * nothing outside it: when it throws, it has already rolled back what it
   * wrote, so the batch needs no savepoint around it. (Two nested
   * savepoints cost two more statements and a second copy of every page the
   * unit changes.)
   */
  ownSavepoint?: boolean;
}

interface Pending {
  work: () => unknown;
  ownSavepoint: boolean;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: write work queued during one turn of the event loop runs in
 * ONE SQLite transaction at the end of that turn, and each caller's promise
 * settles only after that transaction has committed.
 *
 * Why: a commit writes every page the transaction touched to the WAL (the
 * orders row, its two indexes, the transition log, the outbox and its
 * counters: about ten pages), so twenty vend outcomes arriving from twenty
 * machines in the same turn cost one commit instead of twenty. Nothing is
 * weakened: a caller that must not act before its write is durable (send a
 * DISPENSE frame, publish an event) awaits the promise, which resolves only
 * after COMMIT returned; until then nothing outside this process can see or
 * act on the write, so a crash before the commit loses work that no one was
 * told about.
 *
 * Each unit of work runs in its own savepoint (better-sqlite3 nests
 * `db.transaction` as a savepoint inside an open transaction), so one that
 * throws is rolled back alone and rejects alone. The work functions run
 * later, inside the batch, so other code never sees a half-open transaction:
 * synchronous `db.transaction` calls elsewhere commit on their own as before.
 */
export class GroupCommit {
  readonly #db: Db;
  #queue: Pending[] = [];
  #scheduled = false;
  #batches = 0;
  #units = 0;

  constructor(db: Db) {
    this.#db = db;
  }

  /** Queues `work` for this turn's transaction; resolves with its result once committed. */
  run<T>(work: () => T, opts: GroupCommitUnitOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({
        work,
        ownSavepoint: opts.ownSavepoint === true,
        resolve: resolve as (v: unknown) => void,
        reject,
      });
      if (!this.#scheduled) {
        this.#scheduled = true;
        // setImmediate runs after the poll phase: every serial read and
        // socket packet of this turn has had its chance to queue work.
        setImmediate(this.#flush);
      }
    });
  }

  /** How many transactions carried how many units of work (metrics, benchmarks). */
  get stats(): { batches: number; units: number } {
    return { batches: this.#batches, units: this.#units };
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return;
    const results: { ok: boolean; value: unknown }[] = [];
    // A lone unit needs no savepoint of its own: if it throws, rolling back
    // the whole transaction undoes exactly its writes. (A savepoint costs two
    // statements and a copy of every page it changes, ~64 KB for an order.)
    const lone = batch.length === 1;
    try {
      inTx(this.#db, () => {
        for (const p of batch) {
          try {
            results.push({ ok: true, value: lone || p.ownSavepoint ? p.work() : inTx(this.#db, p.work) });
          } catch (err) {
            if (lone) throw err;
            results.push({ ok: false, value: err });
          }
        }
      });
    } catch (err) {
      // COMMIT itself failed (disk full, I/O error): nothing in the batch is
      // durable, so every caller hears so.
      for (const p of batch) p.reject(err);
      return;
    }
    this.#batches++;
    this.#units += batch.length;
    batch.forEach((p, i) => {
      const r = results[i]!;
      if (r.ok) p.resolve(r.value);
      else p.reject(r.value);
    });
  };
}
