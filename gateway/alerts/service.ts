import type { Clock } from '../../core/clock.ts';
import type { Log } from '../../core/log.ts';
import type { ConditionBoard } from '../conditions/conditions.ts';
import type { Db } from '../store/db.ts';
import type { AlertsConfig } from './config.ts';
import { AlertDispatcher } from './dispatcher.ts';
import { type AlertLink, MqttAlertSink } from './mqtt-sink.ts';
import { AlertQueue, type QueuedAlert, type SinkCounts } from './queue.ts';
import { AlertSender } from './sender.ts';
import type { AlertSink } from './sink.ts';
import { OutboxGrowingSource } from './sources/outbox-growing.ts';
import { WebhookSink } from './webhook-sink.ts';

/** Rows of each status GET /api/alerts lists per sink. */
const REPORT_ROWS = 50;

export interface AlertReportItem {
  alertId: string;
  key: string;
  kind: string;
  state: 'raised' | 'cleared';
  attempts: number;
  createdAt: number;
  nextAt?: number;
  doneAt?: number;
  lastError?: string;
}

export interface AlertSinkReport {
  id: string;
  type: 'webhook' | 'mqtt' | 'removed';
  target: string;
  counts: SinkCounts;
  pending: AlertReportItem[];
  delivered: AlertReportItem[];
  failed: AlertReportItem[];
}

export interface AlertsReport {
  /** Conditions announced as raised and not yet cleared. */
  active: number;
  sinks: AlertSinkReport[];
}

export interface AlertServiceOptions {
  config: AlertsConfig;
  db: Db;
  board: ConditionBoard;
  gatewayId: string;
  /** The platform link, for `alerts.mqtt` (undefined: no MQTT sink). */
  link?: AlertLink;
  /** The link's alert topic (contract/topics.ts `alert`). */
  alertTopic: string;
  /** Events waiting in the outbox, for outbox_growing. */
  outboxPending: () => number;
  log: Log;
  clock?: Clock;
  /** Seam for tests: more sinks (a webhook sink with its own clock, a recorder). */
  sinks?: AlertSink[];
}

const item = (a: QueuedAlert): AlertReportItem => ({
  alertId: a.alertId,
  key: a.key,
  kind: a.kind,
  state: a.state,
  attempts: a.attempts,
  createdAt: a.createdAt,
  ...(a.status === 'pending' ? { nextAt: a.nextAt } : {}),
  ...(a.doneAt !== null ? { doneAt: a.doneAt } : {}),
  ...(a.lastError !== null ? { lastError: a.lastError } : {}),
});

/**
 * Alerts out (config `alerts`): the dispatcher that turns the board's
 * changes into queued alerts, one sender per sink (each webhook, MQTT),
 * and the source that belongs to no device (outbox growing; a machine
 * offline is raised by gateway/telemetry). Start after the store and the board exist and before the
 * sources that raise; stop before the store closes.
 */
export class AlertService {
  readonly queue: AlertQueue;
  readonly dispatcher: AlertDispatcher;
  readonly #senders: AlertSender[];
  readonly #outbox: OutboxGrowingSource;
  readonly #db: Db;

  constructor(o: AlertServiceOptions) {
    const log = o.log;
    this.#db = o.db;
    this.queue = new AlertQueue({ db: o.db, queueMax: o.config.queueMax, log });
    const sinks: AlertSink[] = [
      ...o.config.webhooks.map((w) => new WebhookSink(w, o.clock ? { now: () => o.clock!.wallMs() } : {})),
      ...(o.config.mqtt && o.link ? [new MqttAlertSink(o.link, o.alertTopic)] : []),
      ...(o.sinks ?? []),
    ];
    this.#senders = sinks.map(
      (sink) =>
        new AlertSender({
          sink,
          queue: this.queue,
          retry: o.config.retry,
          log,
          ...(o.clock ? { clock: o.clock } : {}),
        }),
    );
    const byId = new Map(this.#senders.map((s) => [s.sink.id, s]));
    const none: ReadonlySet<number> = new Set();
    this.dispatcher = new AlertDispatcher({
      db: o.db,
      queue: this.queue,
      board: o.board,
      gatewayId: o.gatewayId,
      targets: sinks,
      busy: (id) => byId.get(id)?.busy ?? none,
      queued: (id) => byId.get(id)?.kick(),
      restartClearAfterMs: o.config.restartClearAfterMs,
      ...(o.clock ? { clock: o.clock } : {}),
      log,
    });
    this.#outbox = new OutboxGrowingSource({
      board: o.board,
      pending: o.outboxPending,
      depth: o.config.outboxGrowing.depth,
      forMs: o.config.outboxGrowing.forMs,
      ...(o.clock ? { clock: o.clock } : {}),
    });
    if (sinks.length === 0)
      log.info('no alert sinks configured (alerts.webhooks, alerts.mqtt): alerts are recorded only');
  }

  start(): void {
    this.dispatcher.start();
    for (const s of this.#senders) s.start();
    this.#outbox.start();
  }

  async stop(): Promise<void> {
    this.#outbox.stop();
    this.dispatcher.stop();
    await Promise.all(this.#senders.map((s) => s.stop()));
  }

  /** GET /api/alerts: every sink's counts and its latest rows (a removed webhook's rows too). */
  report(): AlertsReport {
    const configured = new Map(this.#senders.map((s) => [s.sink.id, s.sink]));
    const ids = [...new Set([...configured.keys(), ...this.queue.sinks()])];
    const active = (this.#db.prepare('SELECT COUNT(*) AS n FROM alert_active').get() as { n: number }).n;
    return {
      active,
      sinks: ids.map((id) => {
        const sink = configured.get(id);
        return {
          id,
          type: sink?.type ?? 'removed',
          target: sink?.target ?? '(no longer configured)',
          counts: this.queue.counts(id),
          pending: this.queue.list(id, 'pending', REPORT_ROWS).map(item),
          delivered: this.queue.list(id, 'delivered', REPORT_ROWS).map(item),
          failed: this.queue.list(id, 'failed', REPORT_ROWS).map(item),
        };
      }),
    };
  }
}
