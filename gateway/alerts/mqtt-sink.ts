import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { AlertSink, SendOutcome } from './sink.ts';

/** What the MQTT sink needs of the platform link (PlatformLink is one). */
export interface AlertLink {
  readonly connected: boolean;
  publishSigned(topic: string, body: string): Promise<void>;
  on(event: 'connect', listener: () => void): unknown;
  off(event: 'connect', listener: () => void): unknown;
}

/** A publish whose PUBACK has not come in this long is tried again (the alert's id lets receivers drop the copy). */
const PUBACK_TIMEOUT_MS = 10_000;

/**
 * Publishes alerts on the platform link's own connection, on
 * `vendgate/v1/{gatewayId}/alert`, QoS 1, not retained, signed by the
 * gateway key like every other message the gateway sends. Not retained
 * because an alert is a change (raised, then cleared), not a state: the
 * active conditions are in GET /api/alerts and the dashboard, and a
 * retained topic per condition key would leave one retained message on the
 * operator's broker for every slot that ever jammed. While the link is
 * down nothing is attempted: the alerts wait in the queue and go on `connect`.
 */
export class MqttAlertSink implements AlertSink {
  readonly id = 'mqtt';
  readonly type = 'mqtt' as const;
  readonly target: string;
  readonly concurrency = 1;
  readonly #link: AlertLink;
  readonly #topic: string;

  constructor(link: AlertLink, topic: string) {
    this.#link = link;
    this.#topic = topic;
    this.target = topic;
  }

  accepts(): boolean {
    return true;
  }

  ready(): boolean {
    return this.#link.connected;
  }

  onReady(listener: () => void): () => void {
    this.#link.on('connect', listener);
    return () => this.#link.off('connect', listener);
  }

  async send(body: string, signal: AbortSignal): Promise<SendOutcome> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.#link.publishSigned(this.#topic, body),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no PUBACK within ${PUBACK_TIMEOUT_MS} ms`)),
            PUBACK_TIMEOUT_MS,
          );
          signal.addEventListener('abort', () => reject(new Error('stopped')), { once: true });
        }),
      ]);
      return { ok: true };
    } catch (err) {
      return {
        ok: false,
        retry: true,
        error: new VendgateError(
          ErrorCode.AlertPublishFailed,
          `could not publish the alert on ${this.#topic}: ${(err as Error).message}`,
          { topic: this.#topic },
        ),
      };
    } finally {
      clearTimeout(timer);
    }
  }
}
