import type { AlertMessage } from '../../contract/alerts.ts';
import type { Log } from '../../core/log.ts';
import { bumpCounter, type Db, readCounter } from '../store/db.ts';

/** Delivered and failed rows kept per sink for GET /api/alerts; older ones are deleted. */
export const HISTORY_PER_SINK = 100;

export type AlertStatus = 'pending' | 'delivered' | 'failed' | 'dropped';

export interface QueuedAlert {
  id: number;
  sink: string;
  alertId: string;
  key: string;
  kind: string;
  state: 'raised' | 'cleared';
  body: string;
  status: AlertStatus;
  attempts: number;
  nextAt: number;
  lastError: string | null;
  createdAt: number;
  doneAt: number | null;
}

interface Row {
  id: number;
  sink: string;
  alert_id: string;
  condition_key: string;
  kind: string;
  state: 'raised' | 'cleared';
  body: string;
  status: AlertStatus;
  attempts: number;
  next_at: number;
  last_error: string | null;
  created_at: number;
  done_at: number | null;
}

const fromRow = (r: Row): QueuedAlert => ({
  id: r.id,
  sink: r.sink,
  alertId: r.alert_id,
  key: r.condition_key,
  kind: r.kind,
  state: r.state,
  body: r.body,
  status: r.status,
  attempts: r.attempts,
  nextAt: r.next_at,
  lastError: r.last_error,
  createdAt: r.created_at,
  doneAt: r.done_at,
});

export interface SinkCounts {
  pending: number;
  delivered: number;
  failed: number;
  dropped: number;
}

/**
 * The alert queue of every sink, in the store (migration 11), so an alert
 * queued before a restart is sent after it and one delivered is never sent
 * again. Per sink it holds at most `queueMax` pending rows: past that the
 * oldest pending `cleared` goes first (with its `raised`, when that was not
 * sent either: a receiver is better told nothing of a condition that came
 * and went than told it began and never that it ended), then the oldest
 * `raised`; a `cleared` whose `raised` was dropped is dropped too (a
 * receiver never hears of the end of something it was not told began).
 * Each drop is logged and counted.
 */
export class AlertQueue {
  readonly #db: Db;
  readonly #queueMax: number;
  readonly #log: Log;

  constructor(opts: { db: Db; queueMax: number; log: Log }) {
    this.#db = opts.db;
    this.#queueMax = opts.queueMax;
    this.#log = opts.log;
  }

  /**
   * Queues one alert for one sink, dropping what the bound says first.
   * `busy` are ids being sent right now: never dropped (they may have arrived).
   */
  enqueue(sink: string, message: AlertMessage, body: string, now: number, busy: ReadonlySet<number>): void {
    this.#db.transaction(() => {
      if (message.state === 'cleared' && this.#raisedDropped(sink, message.alertId)) {
        this.#db
          .prepare(
            `INSERT INTO alert_queue (sink, alert_id, condition_key, kind, state, body, status, attempts, next_at, created_at, done_at)
             VALUES (?, ?, ?, ?, 'cleared', ?, 'dropped', 0, ?, ?, ?)`,
          )
          .run(sink, message.alertId, message.key, message.kind, body, now, now, now);
        this.#dropped(
          sink,
          { alert_id: message.alertId, kind: message.kind, condition_key: message.key, state: 'cleared' },
          'its raised was dropped',
        );
        return;
      }
      this.#makeRoom(sink, now, busy);
      this.#db
        .prepare(
          `INSERT INTO alert_queue (sink, alert_id, condition_key, kind, state, body, status, attempts, next_at, created_at)
           VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)`,
        )
        .run(sink, message.alertId, message.key, message.kind, message.state, body, now, now);
    })();
  }

  #raisedDropped(sink: string, alertId: string): boolean {
    return (
      this.#db
        .prepare(
          "SELECT 1 FROM alert_queue WHERE sink = ? AND alert_id = ? AND state = 'raised' AND status = 'dropped'",
        )
        .get(sink, alertId) !== undefined
    );
  }

  #dropped(sink: string, r: Pick<Row, 'alert_id' | 'kind' | 'condition_key' | 'state'>, why: string): void {
    bumpCounter(this.#db, `alerts_dropped:${sink}`);
    this.#log.warn(
      {
        sink,
        alertId: r.alert_id,
        kind: r.kind,
        key: r.condition_key,
        state: r.state,
        queueMax: this.#queueMax,
        why,
      },
      'alert queue full: dropped an undelivered alert',
    );
  }

  #makeRoom(sink: string, now: number, busy: ReadonlySet<number>): void {
    const count = () =>
      (
        this.#db
          .prepare("SELECT COUNT(*) AS n FROM alert_queue WHERE sink = ? AND status = 'pending'")
          .get(sink) as { n: number }
      ).n;
    const pending = (state: 'raised' | 'cleared') =>
      (
        this.#db
          .prepare(
            "SELECT * FROM alert_queue WHERE sink = ? AND status = 'pending' AND state = ? ORDER BY id LIMIT ?",
          )
          // The ones being sent are skipped, so at most that many more are read.
          .all(sink, state, busy.size + 1) as Row[]
      ).find((r) => !busy.has(r.id));
    while (count() >= this.#queueMax) {
      const victim = pending('cleared') ?? pending('raised');
      if (!victim) return; // Everything pending is being sent: those finish first.
      const doomed = [victim];
      if (victim.state === 'cleared') {
        const raised = this.#db
          .prepare(
            "SELECT * FROM alert_queue WHERE sink = ? AND status = 'pending' AND alert_id = ? AND state = 'raised'",
          )
          .get(sink, victim.alert_id) as Row | undefined;
        if (raised && !busy.has(raised.id)) doomed.push(raised);
      }
      for (const r of doomed) {
        this.#db
          .prepare("UPDATE alert_queue SET status = 'dropped', done_at = ? WHERE id = ?")
          .run(now, r.id);
        this.#dropped(sink, r, 'the oldest undelivered');
      }
    }
  }

  /**
   * The next alerts of a sink that may be sent now, oldest first: due, not
   * being sent, and the first pending row of their condition key, so a
   * `cleared` never overtakes its `raised` (nor a later occurrence an earlier one).
   */
  due(sink: string, now: number, busy: ReadonlySet<number>, limit: number): QueuedAlert[] {
    const rows = this.#db
      .prepare(
        `SELECT q.* FROM alert_queue q
         WHERE q.sink = ? AND q.status = 'pending' AND q.next_at <= ?
           AND NOT EXISTS (SELECT 1 FROM alert_queue p WHERE p.sink = q.sink AND p.condition_key = q.condition_key
                           AND p.status = 'pending' AND p.id < q.id)
         ORDER BY q.id LIMIT ?`,
      )
      .all(sink, now, limit + busy.size) as Row[];
    return rows
      .filter((r) => !busy.has(r.id))
      .slice(0, limit)
      .map(fromRow);
  }

  /**
   * When the earliest pending row of a sink that is not due yet falls due
   * (undefined when none): rows due already are started, or wait for a send
   * to end (their condition's earlier row, the sink's concurrency).
   */
  nextDueAfter(sink: string, now: number): number | undefined {
    const r = this.#db
      .prepare(
        "SELECT MIN(next_at) AS at FROM alert_queue WHERE sink = ? AND status = 'pending' AND next_at > ?",
      )
      .get(sink, now) as { at: number | null };
    return r.at ?? undefined;
  }

  delivered(id: number, sink: string, now: number): void {
    this.#db.transaction(() => {
      this.#db
        .prepare(
          "UPDATE alert_queue SET status = 'delivered', attempts = attempts + 1, done_at = ?, last_error = NULL WHERE id = ?",
        )
        .run(now, id);
      bumpCounter(this.#db, `alerts_delivered:${sink}`);
      this.#trimHistory(sink);
    })();
  }

  failed(id: number, sink: string, now: number, error: string): void {
    this.#db.transaction(() => {
      this.#db
        .prepare(
          "UPDATE alert_queue SET status = 'failed', attempts = attempts + 1, done_at = ?, last_error = ? WHERE id = ?",
        )
        .run(now, error.slice(0, 500), id);
      bumpCounter(this.#db, `alerts_failed:${sink}`);
      this.#trimHistory(sink);
    })();
  }

  /** One more failed attempt: try again at `nextAt`. */
  retryAt(id: number, nextAt: number, error: string): void {
    this.#db
      .prepare('UPDATE alert_queue SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?')
      .run(nextAt, error.slice(0, 500), id);
  }

  #trimHistory(sink: string): void {
    this.#db
      .prepare(
        `DELETE FROM alert_queue WHERE sink = ? AND status <> 'pending' AND id NOT IN (
           SELECT id FROM alert_queue WHERE sink = ? AND status <> 'pending' ORDER BY id DESC LIMIT ?)`,
      )
      .run(sink, sink, HISTORY_PER_SINK);
  }

  counts(sink: string): SinkCounts {
    const pending = (
      this.#db
        .prepare("SELECT COUNT(*) AS n FROM alert_queue WHERE sink = ? AND status = 'pending'")
        .get(sink) as { n: number }
    ).n;
    return {
      pending,
      delivered: readCounter(this.#db, `alerts_delivered:${sink}`),
      failed: readCounter(this.#db, `alerts_failed:${sink}`),
      dropped: readCounter(this.#db, `alerts_dropped:${sink}`),
    };
  }

  /** The rows of a sink in one status, pending oldest first, the others newest first. */
  list(sink: string, status: AlertStatus, limit: number): QueuedAlert[] {
    const order = status === 'pending' ? 'ASC' : 'DESC';
    return (
      this.#db
        .prepare(`SELECT * FROM alert_queue WHERE sink = ? AND status = ? ORDER BY id ${order} LIMIT ?`)
        .all(sink, status, limit) as Row[]
    ).map(fromRow);
  }

  /** Every sink that has rows, configured now or not (a webhook removed from the config keeps its rows). */
  sinks(): string[] {
    return (
      this.#db.prepare('SELECT DISTINCT sink FROM alert_queue ORDER BY sink').all() as { sink: string }[]
    ).map((r) => r.sink);
  }
}
