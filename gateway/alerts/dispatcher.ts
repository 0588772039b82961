import { randomUUID } from 'node:crypto';
import { type ALERT_KINDS, AlertMessage, MAX_ALERT_DETAIL_CHARS } from '../../contract/alerts.ts';
import type { Clock } from '../../core/clock.ts';
import type { Log } from '../../core/log.ts';
import type {
  ClearedCondition,
  CONDITION_KINDS,
  Condition,
  ConditionBoard,
  ConditionKind,
} from '../conditions/conditions.ts';
import type { Db } from '../store/db.ts';
import type { AlertQueue } from './queue.ts';

// The contract's kinds are the board's kinds: a kind added to one and not the other fails to compile here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const _sameKinds: Same<(typeof ALERT_KINDS)[number], (typeof CONDITION_KINDS)[number]> = true;
void _sameKinds;

/** Where the dispatcher queues: a sink's id and which kinds it takes. */
export interface AlertTarget {
  readonly id: string;
  accepts(kind: ConditionKind): boolean;
}

export interface AlertDispatcherOptions {
  db: Db;
  queue: AlertQueue;
  board: ConditionBoard;
  gatewayId: string;
  targets: readonly AlertTarget[];
  /** Ids a sink is sending right now (never dropped by the bound). */
  busy: (sinkId: string) => ReadonlySet<number>;
  /** Told after an alert was queued for a sink, so its sender looks at once. */
  queued: (sinkId: string) => void;
  /** See config alerts.restartClearAfterMs. */
  restartClearAfterMs: number;
  clock?: Pick<Clock, 'wallMs'>;
  log: Log;
}

interface ActiveRow {
  condition_key: string;
  alert_id: string;
  message: string;
}

const cut = (s: string) =>
  s.length <= MAX_ALERT_DETAIL_CHARS ? s : `${s.slice(0, MAX_ALERT_DETAIL_CHARS - 1)}\u2026`;

/**
 * Turns the board's changes into alerts, once each: a `raised` when a
 * condition begins and a `cleared` with the same alertId when it ends,
 * queued for every sink that takes its kind, in the transaction that
 * records what was announced (alert_active). The board refuses a second
 * raise while a condition is active; alert_active does the same across a
 * restart, whose sources raise again whatever is still wrong. What was
 * announced before a restart and is not raised again within
 * `restartClearAfterMs` ended while the gateway was down: it is cleared then.
 */
export class AlertDispatcher {
  readonly #o: AlertDispatcherOptions;
  readonly #clock: Pick<Clock, 'wallMs'>;
  #unsubscribe: (() => void) | undefined;
  #restartTimer: NodeJS.Timeout | undefined;

  constructor(opts: AlertDispatcherOptions) {
    this.#o = opts;
    this.#clock = opts.clock ?? { wallMs: () => Date.now() };
  }

  start(): void {
    if (this.#unsubscribe) return;
    this.#unsubscribe = this.#o.board.onChange((change) => {
      if (change.type === 'raised') this.raised(change.condition);
      else this.cleared(change.condition);
    });
    // Whatever a source raised before this listener existed.
    for (const c of this.#o.board.active()) this.raised(c);
    this.#restartTimer = setTimeout(() => this.clearStale(), this.#o.restartClearAfterMs);
    this.#restartTimer.unref();
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
  }

  /** A condition began (or a source raised again, after a restart, one already announced: nothing is sent). */
  raised(c: Condition): void {
    this.#guard('raised', c.key, () => {
      const db = this.#o.db;
      const known = db.prepare('SELECT 1 FROM alert_active WHERE condition_key = ?').get(c.key);
      if (known) {
        this.#o.log.debug({ key: c.key }, 'condition already announced (before a restart): no second alert');
        return;
      }
      const message = AlertMessage.parse({
        alertId: randomUUID(),
        gatewayId: this.#o.gatewayId,
        kind: c.kind,
        key: c.key,
        ...(c.machineId !== undefined ? { machineId: c.machineId } : {}),
        ...(c.slot !== undefined ? { slot: c.slot } : {}),
        severity: c.severity,
        detail: cut(c.detail),
        state: 'raised',
        since: c.since,
        at: c.since,
      });
      const body = JSON.stringify(message);
      const sinks = this.#queue(message, body, () =>
        db
          .prepare(
            'INSERT INTO alert_active (condition_key, alert_id, message, raised_at) VALUES (?, ?, ?, ?)',
          )
          .run(c.key, message.alertId, body, this.#clock.wallMs()),
      );
      this.#o.log.info({ key: c.key, alertId: message.alertId, sinks }, 'alert raised');
    });
  }

  /** A condition ended: its `cleared`, with the alertId and since of its `raised`. */
  cleared(c: ClearedCondition): void {
    this.#clearKey(c.key, c.clearedAt, { severity: c.severity, detail: c.detail });
  }

  /**
   * Clears what was announced but is not active on the board: after a
   * restart, the conditions that ended while the gateway was down.
   */
  clearStale(): number {
    const rows = this.#o.db.prepare('SELECT * FROM alert_active').all() as ActiveRow[];
    let cleared = 0;
    for (const r of rows) {
      const raised = JSON.parse(r.message) as AlertMessage;
      const active = this.#o.board.isActive({
        kind: raised.kind,
        ...(raised.machineId !== undefined ? { machineId: raised.machineId } : {}),
        ...(raised.slot !== undefined ? { slot: raised.slot } : {}),
      });
      if (active) continue;
      this.#clearKey(r.condition_key, this.#clock.wallMs(), {
        detail: cut(`not raised again after the restart (was: ${raised.detail})`),
      });
      cleared++;
    }
    return cleared;
  }

  #clearKey(key: string, at: number, update: { severity?: AlertMessage['severity']; detail: string }): void {
    this.#guard('cleared', key, () => {
      const db = this.#o.db;
      const row = db.prepare('SELECT * FROM alert_active WHERE condition_key = ?').get(key) as
        | ActiveRow
        | undefined;
      if (!row) return; // Never announced: nothing to take back.
      const raised = JSON.parse(row.message) as AlertMessage;
      const message = AlertMessage.parse({
        ...raised,
        ...(update.severity ? { severity: update.severity } : {}),
        detail: cut(update.detail),
        state: 'cleared',
        at,
      });
      const sinks = this.#queue(message, JSON.stringify(message), () =>
        db.prepare('DELETE FROM alert_active WHERE condition_key = ?').run(key),
      );
      this.#o.log.info({ key, alertId: message.alertId, sinks }, 'alert cleared');
    });
  }

  /** Records the announcement and queues it for each sink that takes its kind, in one transaction. */
  #queue(message: AlertMessage, body: string, record: () => void): string[] {
    const targets = this.#o.targets.filter((t) => t.accepts(message.kind));
    const now = this.#clock.wallMs();
    this.#o.db.transaction(() => {
      record();
      for (const t of targets) this.#o.queue.enqueue(t.id, message, body, now, this.#o.busy(t.id));
    })();
    for (const t of targets) this.#o.queued(t.id);
    return targets.map((t) => t.id);
  }

  /** The board isolates listeners, but a failure here (a full disk) must still be said. */
  #guard(state: 'raised' | 'cleared', key: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#o.log.error({ err, key, state }, 'could not queue an alert');
    }
  }
}
