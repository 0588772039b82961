import { randomUUID } from 'node:crypto';
import { type RequestEnvelope, ResponseEnvelope } from '../../contract/envelopes.ts';
import { requestDigest, sealBody } from '../../contract/signed.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import type { GatewayKey } from './gateway-key.ts';
import type { PlatformMessages } from './platform-messages.ts';
import type { QosOnePublisher } from './publisher.ts';

export interface CorrelatedRequestsOptions {
  /** The topic a request of this type is published on (`req/{type}`). */
  requestTopic: (type: string) => string;
  gatewayId: string;
  /** Signs each request, so the platform acts only on this gateway's. */
  key: GatewayKey;
  /** Opens the platform's signed responses. */
  platform: PlatformMessages;
  /** The wall clock a request's issuedAt and expiresAt are stamped with. */
  now: () => number;
  log: Log;
}

interface PendingRequest {
  type: string;
  /** Hex SHA-256 of the signed request body: the answer must name it. */
  digest: string;
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
      const issuedAt = this.#opts.now();
      const request: RequestEnvelope = {
        correlationId,
        type,
        gatewayId: this.#opts.gatewayId,
        issuedAt,
        // A timeout measured on the monotonic clock is fractional; the contract's EpochMs is an integer.
        expiresAt: issuedAt + Math.ceil(timeoutMs),
        data,
      };
      const body = JSON.stringify(request);
      this.#pending.set(correlationId, { type, digest: requestDigest(body), resolve, reject, timer });
      const wire = sealBody(body, this.#opts.key.privateKey, this.#opts.key.keyId);
      publisher.publish(this.#opts.requestTopic(type), wire, { qos: 1 }, (err) => {
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

  /**
   * A `res/{type}` payload from the platform. It settles a request only when
   * signed by a trusted platform key, addressed to this gateway, within its
   * validity window, and bound to that very request (type, correlation id
   * and the SHA-256 of its body); anything else is refused with a logged
   * reason and the request keeps waiting for its real answer.
   */
  onResponse(type: string | undefined, payload: Buffer): void {
    const log = this.#opts.log;
    const opened = this.#opts.platform.open(`response ${type ?? ''}`.trim(), payload, ResponseEnvelope);
    if (!opened.ok) {
      log.warn({ type, code: opened.code, reason: opened.reason }, 'refused a response');
      return;
    }
    const res = opened.body;
    const p = this.#pending.get(res.correlationId);
    if (!p) {
      log.debug({ type, correlationId: res.correlationId }, 'ignored an unexpected or late response');
      return;
    }
    if (p.type !== type || res.type !== type || res.requestSha256 !== p.digest) {
      log.warn(
        {
          type,
          correlationId: res.correlationId,
          code: ErrorCode.PlatformMessageMisaddressed,
          reason: 'the response is signed for another request (type or request digest differ)',
        },
        'refused a response',
      );
      return;
    }
    this.#pending.delete(res.correlationId);
    clearTimeout(p.timer);
    if (res.error) {
      p.reject(
        new VendgateError(ErrorCode.RequestRefused, `the platform refused ${type}: ${res.error.reason}`, {
          type,
          correlationId: res.correlationId,
          platformCode: res.error.code,
        }),
      );
    } else {
      p.resolve(res.data);
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
