import type { VendgateError } from '../../core/errors.ts';
import type { ConditionKind } from '../conditions/conditions.ts';

/** How one attempt to deliver an alert went. */
export type SendOutcome =
  | { ok: true }
  | {
      ok: false;
      /** true: try again after a backoff (5xx, timeout, unreachable); false: a permanent refusal. */
      retry: boolean;
      error: VendgateError;
      /** The receiver asked for at least this long (Retry-After). */
      retryAfterMs?: number;
    };

/** Where alerts go: a webhook or the MQTT link. Each has its own queue and sender. */
export interface AlertSink {
  /** Stable across restarts (the queue's rows are keyed by it). */
  readonly id: string;
  readonly type: 'webhook' | 'mqtt';
  /** For people: the URL without its query, or the topic. Never a secret. */
  readonly target: string;
  /** Alerts sent at once, each of another condition. */
  readonly concurrency: number;
  accepts(kind: ConditionKind): boolean;
  /** false while nothing can be sent at all (the link is down): no attempt is made or counted. */
  ready(): boolean;
  /** Calls `listener` whenever the sink becomes ready; returns the unsubscribe. */
  onReady(listener: () => void): () => void;
  /** One attempt. `signal` aborts it when the gateway stops (the alert stays pending, not counted). */
  send(body: string, signal: AbortSignal): Promise<SendOutcome>;
}
