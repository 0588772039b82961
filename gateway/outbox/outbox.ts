import { randomUUID } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import {
  EVENT_CLASS,
  type EventData,
  type EventEnvelope,
  EventSchemas,
  type EventType,
} from '../../contract/events.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { bumpCounter, type Db, readCounter } from '../store/db.ts';
import { inTx } from '../store/tx.ts';

export interface OutboxOptions {
  gatewayId: string;
  /** Most rows kept. Telemetry is dropped (oldest first) to stay under it; critical events never are. */
  maxRows: number;
  /** Telemetry older than this expires undelivered (stale status is worse than none). */
  telemetryTtlMs: number;
  now?: () => number;
  /**
   * Called after each seq is handed out, inside the appending transaction
   * (the high-water file keeper counts them; store/high-water.ts).
   */
  onAppend?: () => void;
}

export interface OutboxRow {
  seq: number;
  envelope: string;
  type: string;
}

export interface OutboxStats {
  pending: number;
  critical: number;
  dropped: number;
  expired: number;
  lastSeq: number;
}

/**
 * The durable outbox. `append` must run inside the transaction that made the
 * state change (a broker PUBACK is not delivery; README "Delivery"): either
 * both are on disk or neither is. Rows leave only on the platform's
 * end-to-end `ack`, or, for telemetry only, when the bound or the TTL drops
 * them, which is counted and itself reported as an `outbox.dropped` event.
 */
export class Outbox {
  readonly #db: Db;
  readonly #opts: Required<Omit<OutboxOptions, 'onAppend'>> & Pick<OutboxOptions, 'onAppend'>;
  readonly #allocate: Statement<[number, number, number], { next_seq: number }>;
  readonly #adjust: Statement<[number, number]>;
  readonly #state: Statement<[], { next_seq: number; rows: number; critical: number }>;
  readonly #insert: Statement<[number, string, string, string, string, number, number | null]>;
  readonly #pendingAfter: Statement<[number, number], OutboxRow>;
  readonly #ackUpTo: Statement<[number]>;
  readonly #countRange: Statement<[number], { n: number; critical: number }>;
  /**
   * The highest seq this process has handed out (rolled-back ones included).
   * Never below the highest committed seq, so a reader that has sent
   * everything up to it can skip the query (see `mayHaveAfter`).
   */
  #appendedUpTo: number;

  constructor(db: Db, opts: OutboxOptions) {
    this.#db = db;
    this.#opts = { now: Date.now, ...opts };
    this.#allocate = db.prepare(
      // Params: critical increment (0/1), force (0/1: skip the bound), bound.
      'UPDATE outbox_state SET next_seq = next_seq + 1, rows = rows + 1, critical = critical + ? WHERE id = 1 AND (? = 1 OR rows < ?) RETURNING next_seq',
    );
    this.#adjust = db.prepare(
      'UPDATE outbox_state SET rows = rows - ?, critical = critical - ? WHERE id = 1',
    );
    this.#state = db.prepare('SELECT next_seq, rows, critical FROM outbox_state WHERE id = 1');
    this.#insert = db.prepare(
      'INSERT INTO outbox (seq, event_id, type, class, envelope, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.#pendingAfter = db.prepare(
      // Sends are not recorded per row (the send_count and last_sent_at
      // columns stay unused): an UPDATE per drained batch was one more commit
      // per event, and a restart resends from the last ack anyway.
      'SELECT seq, envelope, type FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?',
    );
    this.#ackUpTo = db.prepare('DELETE FROM outbox WHERE seq <= ?');
    this.#countRange = db.prepare(
      "SELECT COUNT(*) AS n, COALESCE(SUM(class = 'critical'), 0) AS critical FROM outbox WHERE seq <= ?",
    );
    // Row counts live in outbox_state and change in the same transaction as
    // the rows, so a caller's rollback also rolls them back (an in-memory
    // count would go stale) while reading them stays O(1) instead of a
    // COUNT(*) scan per order. Recounted once at start-up.
    // On a full disk this write can fail; the counts it would fix are kept
    // in the same transactions as the rows anyway, so start without it.
    try {
      db.prepare(
        "UPDATE outbox_state SET rows = (SELECT COUNT(*) FROM outbox), critical = (SELECT COUNT(*) FROM outbox WHERE class = 'critical') WHERE id = 1",
      ).run();
    } catch (err) {
      if (!String((err as { code?: unknown }).code).startsWith('SQLITE_')) throw err;
    }
    this.#appendedUpTo = this.#state.get()!.next_seq;
  }

  /**
   * Appends an event. Validates the data against the contract so that nothing
   * malformed is ever queued. Call inside the caller's transaction.
   */
  append<T extends EventType>(type: T, data: EventData<T>): EventEnvelope {
    const envelope = this.tryAppend(type, data);
    if (!envelope) {
      throw new VendgateError(
        ErrorCode.OutboxFull,
        `the outbox is full of undelivered critical events; ${type} not queued`,
        {
          type,
        },
      );
    }
    return envelope;
  }

  /**
   * Like append, but a telemetry event that finds the outbox full of critical
   * events is counted as dropped and not queued (returns null).
   */
  tryAppend<T extends EventType>(type: T, data: EventData<T>): EventEnvelope | null {
    const parsed = EventSchemas[type].safeParse(data);
    if (!parsed.success) {
      throw new VendgateError(
        ErrorCode.PayloadInvalid,
        `event ${type} does not match its schema: ${parsed.error.message}`,
        {
          type,
        },
      );
    }
    const cls = EVENT_CLASS[type];
    const critical = cls === 'critical' ? 1 : 0;
    // One statement allocates the seq and checks the bound; telemetry that
    // finds the outbox full first makes room by dropping the oldest.
    // Critical events are never refused: they are forced past the bound.
    let seq = this.#allocate.get(critical, critical, this.#opts.maxRows)?.next_seq;
    if (seq === undefined) {
      if (!this.#dropOldestTelemetry()) {
        bumpCounter(this.#db, 'outbox_dropped');
        return null;
      }
      seq = this.#allocate.get(critical, 1, this.#opts.maxRows)!.next_seq;
    }
    if (seq > this.#appendedUpTo) this.#appendedUpTo = seq;
    this.#opts.onAppend?.();
    const now = this.#opts.now();
    const envelope: EventEnvelope = {
      id: randomUUID(),
      seq,
      gatewayId: this.#opts.gatewayId,
      ts: now,
      type,
      data,
    };
    const expiresAt = cls === 'telemetry' ? now + this.#opts.telemetryTtlMs : null;
    this.#insert.run(seq, envelope.id, type, cls, JSON.stringify(envelope), now, expiresAt);
    return envelope;
  }

  /** True when only critical events fill the bound: new money work must wait. */
  get saturated(): boolean {
    return this.#state.get()!.critical >= this.#opts.maxRows;
  }

  /**
   * False when no row after `seq` can exist: the drain after every ack and
   * every notify would otherwise run an empty query (~20 us each).
   */
  mayHaveAfter(seq: number): boolean {
    return seq < this.#appendedUpTo;
  }

  pendingAfter(seq: number, limit: number): OutboxRow[] {
    return this.#pendingAfter.all(seq, limit);
  }

  /** The platform stored every event up to `upTo`. Returns how many rows left. */
  ack(upTo: number): number {
    return inTx(this.#db, () => {
      const c = this.#countRange.get(upTo)!;
      if (c.n === 0) return 0;
      const removed = this.#ackUpTo.run(upTo).changes;
      this.#adjust.run(c.n, c.critical);
      return removed;
    });
  }

  /** Drops telemetry past its TTL; reports the gap. Returns how many expired. */
  expire(): number {
    const now = this.#opts.now();
    return inTx(this.#db, () => {
      const rows = this.#db
        .prepare("SELECT seq FROM outbox WHERE class = 'telemetry' AND expires_at <= ? ORDER BY seq")
        .all(now) as { seq: number }[];
      if (rows.length === 0) return 0;
      this.#removeAndReport(
        rows.map((r) => r.seq),
        'expired',
      );
      return rows.length;
    });
  }

  stats(): OutboxStats {
    const st = this.#state.get()!;
    return {
      pending: st.rows,
      critical: st.critical,
      dropped: readCounter(this.#db, 'outbox_dropped'),
      expired: readCounter(this.#db, 'outbox_expired'),
      lastSeq: st.next_seq,
    };
  }

  /** Returns false when there was no telemetry to drop. */
  #dropOldestTelemetry(): boolean {
    // Drop a tenth of the bound at once so a sustained overflow yields one
    // report per batch rather than one per event.
    const batch = Math.max(1, Math.floor(this.#opts.maxRows / 10));
    const rows = this.#db
      .prepare("SELECT seq FROM outbox WHERE class = 'telemetry' ORDER BY seq LIMIT ?")
      .all(batch) as { seq: number }[];
    if (rows.length === 0) return false;
    this.#removeAndReport(
      rows.map((r) => r.seq),
      'bound',
    );
    return true;
  }

  #removeAndReport(seqs: number[], cause: 'bound' | 'expired'): void {
    const del = this.#db.prepare('DELETE FROM outbox WHERE seq = ?');
    for (const s of seqs) del.run(s);
    // Only telemetry is ever dropped or expired.
    this.#adjust.run(seqs.length, 0);
    bumpCounter(this.#db, cause === 'bound' ? 'outbox_dropped' : 'outbox_expired', seqs.length);
    this.append('outbox.dropped', {
      cause,
      count: seqs.length,
      seqs,
      totalDropped: readCounter(this.#db, 'outbox_dropped'),
      totalExpired: readCounter(this.#db, 'outbox_expired'),
    });
  }
}
