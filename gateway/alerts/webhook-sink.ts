import { createHash } from 'node:crypto';
import { ALERT_SIGNATURE_HEADER, signAlertWebhook } from '../../contract/alerts.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { VERSION } from '../../core/version.ts';
import type { ConditionKind } from '../conditions/conditions.ts';
import type { WebhookConfig } from './config.ts';
import type { AlertSink, SendOutcome } from './sink.ts';

/** Webhook POSTs at once per webhook (each of another condition). */
const WEBHOOK_CONCURRENCY = 4;
/** Most of an answer's body read (into an error message); the rest is discarded. */
const MAX_ANSWER_EXCERPT = 200;

/** The URL without query, fragment or credentials: what logs and the API show of a webhook. */
export function webhookTarget(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** A webhook's sink id: stable for its URL, and without the URL (whose query may carry a token). */
export function webhookSinkId(url: string): string {
  return `webhook:${createHash('sha256').update(url).digest('hex').slice(0, 12)}`;
}

/** Retry-After as delay-seconds or an HTTP date (RFC 9110 section 10.2.3), in ms from `now`. */
function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  if (/^\d{1,9}$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * POSTs alerts as JSON to one receiver, each attempt signed afresh
 * (contract/alerts.ts signAlertWebhook) and abandoned after `timeoutMs`.
 * 2xx is delivered; 5xx, 408, 429, a timeout or an unreachable receiver is
 * retried; any other status (4xx, and a redirect, which is not followed so
 * the signed body never goes where it was not configured to) is final.
 */
export class WebhookSink implements AlertSink {
  readonly id: string;
  readonly type = 'webhook' as const;
  readonly target: string;
  readonly concurrency = WEBHOOK_CONCURRENCY;
  readonly #config: WebhookConfig;
  readonly #kinds: ReadonlySet<ConditionKind> | undefined;
  readonly #now: () => number;

  constructor(config: WebhookConfig, opts: { now?: () => number } = {}) {
    this.#config = config;
    this.id = webhookSinkId(config.url);
    this.target = webhookTarget(config.url);
    this.#kinds = config.kinds ? new Set(config.kinds) : undefined;
    this.#now = opts.now ?? Date.now;
  }

  accepts(kind: ConditionKind): boolean {
    return this.#kinds?.has(kind) ?? true;
  }

  ready(): boolean {
    return true;
  }

  onReady(): () => void {
    return () => {};
  }

  async send(body: string, signal: AbortSignal): Promise<SendOutcome> {
    const now = this.#now();
    const timeout = AbortSignal.timeout(this.#config.timeoutMs);
    const where = { webhook: this.target };
    let res: Response;
    try {
      res = await fetch(this.#config.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': `vendgate/${VERSION}`,
          [ALERT_SIGNATURE_HEADER]: signAlertWebhook(this.#config.secret, body, Math.floor(now / 1000)),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.any([signal, timeout]),
      });
    } catch (err) {
      if (timeout.aborted)
        return {
          ok: false,
          retry: true,
          error: new VendgateError(
            ErrorCode.AlertWebhookTimeout,
            `the webhook ${this.target} did not answer within ${this.#config.timeoutMs} ms`,
            { ...where, timeoutMs: this.#config.timeoutMs },
          ),
        };
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      return {
        ok: false,
        retry: true,
        error: new VendgateError(
          ErrorCode.AlertWebhookFailed,
          `the webhook ${this.target} could not be reached: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
          where,
        ),
      };
    }
    // Only the start of the answer matters (for the log), and a receiver that streams forever must not hold us.
    const excerpt = await readExcerpt(res, timeout);
    if (res.status >= 200 && res.status < 300) return { ok: true };
    const context = { ...where, status: res.status, answer: excerpt };
    if (res.status >= 500 || res.status === 408 || res.status === 429) {
      const after = retryAfterMs(res.headers.get('retry-after'), now);
      return {
        ok: false,
        retry: true,
        error: new VendgateError(
          ErrorCode.AlertWebhookFailed,
          `the webhook ${this.target} answered ${res.status}`,
          context,
        ),
        ...(after !== undefined ? { retryAfterMs: after } : {}),
      };
    }
    return {
      ok: false,
      retry: false,
      error: new VendgateError(
        ErrorCode.AlertWebhookRefused,
        `the webhook ${this.target} answered ${res.status}: not retried`,
        context,
      ),
    };
  }
}

async function readExcerpt(res: Response, timeout: AbortSignal): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < MAX_ANSWER_EXCERPT && !timeout.aborted) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // The body failed or timed out after the status arrived: the status decides.
  } finally {
    reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks)
    .toString('utf8', 0, Math.min(size, MAX_ANSWER_EXCERPT))
    .replace(/[^\x20-\x7e]/g, '?');
}
