import { randomUUID } from 'node:crypto';
import { type RequestEnvelope, ResponseEnvelope } from '../../contract/envelopes.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import type { QosOnePublisher } from './publisher.ts';

export interface CorrelatedRequestsOptions {
  /** The topic a request of this type is published on (`req/{type}`). */
  requestTopic: (type: string) => string;
  log: Log;
}

interface PendingRequest {
  type: string;
  resolve: (data: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The gateway's requests to the platform: each goes out on `req/{type}` with
 * a fresh correlation id and is settled by the `res/{type}` answer carrying
 * that id, or rejected when none comes in time. An answer nobody waits for
 * (late, or for another type) is ignored.
 */
export class CorrelatedRequests {
  readonly #opts: CorrelatedRequestsOptions;
  readonly #pending = new Map<string, PendingRequest>();

  constructor(opts: CorrelatedRequestsOptions) {
    this.#opts = opts;
  }

  /** How many requests wait for an answer. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Publishes a request on `publisher` (undefined while the link is not
   * connected: rejects with BrokerUnreachable) and resolves with the `data`
   * of the answer.
   */
  send(
    publisher: QosOnePublisher | undefined,
    type: string,
    data: unknown,
    timeoutMs: number,
  ): Promise<unknown> {
    if (!publisher) {
      return Promise.reject(
        new VendgateError(ErrorCode.BrokerUnreachable, `cannot send request ${type}: not connected`, {
          type,
        }),
      );
    }
    const correlationId = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(correlationId);
        reject(
          new VendgateError(
            ErrorCode.RequestTimeout,
            `the platform did not answer ${type} within ${timeoutMs} ms`,
            { type, correlationId, timeoutMs },
          ),
        );
      }, timeoutMs);
      timer.unref();
      this.#pending.set(correlationId, { type, resolve, reject, timer });
      const body: RequestEnvelope = { correlationId, data };
      publisher.publish(this.#opts.requestTopic(type), JSON.stringify(body), { qos: 1 }, (err) => {
        if (!err) return;
        const p = this.#pending.get(correlationId);
        if (!p) return;
        this.#pending.delete(correlationId);
        clearTimeout(p.timer);
        p.reject(
          new VendgateError(
            ErrorCode.BrokerUnreachable,
            `request ${type} could not be published: ${err.message}`,
            { type, correlationId },
            { cause: err },
          ),
        );
      });
    });
  }

  /** A `res/{type}` payload from the platform. */
  onResponse(type: string | undefined, payload: Buffer): void {
    const log = this.#opts.log;
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      log.warn({ type, code: ErrorCode.PayloadNotJson }, 'ignored a response that is not JSON');
      return;
    }
    const res = ResponseEnvelope.safeParse(json);
    if (!res.success) {
      log.warn(
        { type, code: ErrorCode.PayloadInvalid, issues: res.error.issues },
        'ignored an invalid response',
      );
      return;
    }
    const p = this.#pending.get(res.data.correlationId);
    if (!p || p.type !== type) {
      log.debug({ type, correlationId: res.data.correlationId }, 'ignored an unexpected or late response');
      return;
    }
    this.#pending.delete(res.data.correlationId);
    clearTimeout(p.timer);
    if (res.data.error) {
      p.reject(
        new VendgateError(
          ErrorCode.RequestRefused,
          `the platform refused ${type}: ${res.data.error.reason}`,
          {
            type,
            correlationId: res.data.correlationId,
            platformCode: res.data.error.code,
          },
        ),
      );
    } else {
      p.resolve(res.data.data);
    }
  }

  /** Rejects every waiting request with BrokerUnreachable: the link is stopping. */
  abortAll(): void {
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(
        new VendgateError(ErrorCode.BrokerUnreachable, `request ${p.type} aborted: link stopped`, { id }),
      );
    }
    this.#pending.clear();
  }
}
