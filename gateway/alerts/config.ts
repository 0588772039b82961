import { z } from 'zod';
import { CONDITION_KINDS } from '../conditions/conditions.ts';

/** At most this many webhooks: each is a sink with its own queue and sender. */
export const MAX_WEBHOOKS = 8;

const WebhookUrl = z
  .string()
  .max(2048)
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '';
    } catch {
      return false;
    }
  }, 'an http:// or https:// URL without user:password@ (the secret signs, it is not sent)');

export const WebhookConfig = z
  .object({
    url: WebhookUrl.describe('Where alerts are POSTed as JSON.'),
    secret: z
      .string()
      .min(16, 'at least 16 characters')
      .max(256)
      .describe(
        'Signs every POST (HMAC-SHA256, header X-Vendgate-Signature; docs/alerts.md). Set it through VENDGATE_ALERTS__WEBHOOKS__<n>__SECRET; it is never logged.',
      ),
    kinds: z
      .array(z.enum(CONDITION_KINDS))
      .min(1)
      .optional()
      .describe('Only these kinds of condition go to this webhook; default all.'),
    timeoutMs: z
      .number()
      .int()
      .min(100)
      .max(60_000)
      .default(5000)
      .describe(
        'Each POST is abandoned (and retried) after this long, so a hanging receiver holds nothing up.',
      ),
  })
  .strict();
export type WebhookConfig = z.infer<typeof WebhookConfig>;

const RETRY_DEFAULTS = { initialMs: 1000, maxMs: 300_000 };
const OUTBOX_GROWING_DEFAULTS = { depth: 1000, forMs: 300_000 };

export const ALERTS_DEFAULTS = {
  webhooks: [],
  mqtt: true,
  queueMax: 1000,
  retry: RETRY_DEFAULTS,
  outboxGrowing: OUTBOX_GROWING_DEFAULTS,
  restartClearAfterMs: 600_000,
};

export const AlertsConfig = z
  .object({
    webhooks: z
      .array(WebhookConfig)
      .max(MAX_WEBHOOKS)
      .default([])
      .refine((hooks) => new Set(hooks.map((h) => h.url)).size === hooks.length, 'each webhook url only once')
      .describe('Receivers of alerts over HTTP.'),
    mqtt: z
      .boolean()
      .default(true)
      .describe(
        'Also publish every alert on the platform link, `vendgate/v1/{gatewayId}/alert` (QoS 1, not retained, signed by the gateway key).',
      ),
    queueMax: z
      .number()
      .int()
      .min(10)
      .max(100_000)
      .default(1000)
      .describe(
        'Most undelivered alerts kept per sink; beyond it the oldest cleared ones are dropped first (logged and counted).',
      ),
    retry: z
      .object({
        initialMs: z.number().int().min(10).max(3600_000).default(RETRY_DEFAULTS.initialMs),
        maxMs: z.number().int().min(10).max(86_400_000).default(RETRY_DEFAULTS.maxMs),
      })
      .strict()
      .refine((r) => r.maxMs >= r.initialMs, { message: 'maxMs must be at least initialMs', path: ['maxMs'] })
      .default(RETRY_DEFAULTS)
      .describe('Backoff between attempts of one alert: doubling from initialMs up to maxMs, with jitter.'),
    outboxGrowing: z
      .object({
        depth: z.number().int().min(1).default(OUTBOX_GROWING_DEFAULTS.depth),
        forMs: z.number().int().min(1000).default(OUTBOX_GROWING_DEFAULTS.forMs),
      })
      .strict()
      .default(OUTBOX_GROWING_DEFAULTS)
      .describe(
        'outbox_growing is raised when more than `depth` events wait for the platform and the count has kept rising for `forMs`; cleared when it is back at or below `depth`.',
      ),
    restartClearAfterMs: z
      .number()
      .int()
      .min(1000)
      .max(86_400_000)
      .default(600_000)
      .describe(
        'After a restart, a condition announced before it that no source has raised again within this time is announced as cleared.',
      ),
  })
  .strict()
  .default(ALERTS_DEFAULTS)
  .describe(
    'Alerts out: the site conditions (offline, jam, sold out, ...) to webhooks and MQTT (docs/alerts.md).',
  );
export type AlertsConfig = z.infer<typeof AlertsConfig>;
