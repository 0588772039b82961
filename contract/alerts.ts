import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { CONDITION_KINDS } from './events.ts';

/**
 * The alert a gateway sends when one of its site's conditions is raised or
 * cleared: the same JSON to every webhook (HTTP POST body) and on MQTT (the
 * signed body on `vendgate/v1/{gatewayId}/alert`). Receivers validate it
 * with `AlertMessage` and deduplicate on `(alertId, state)`: delivery is at
 * least once (a retry after a lost answer, a restart mid-send).
 */
/** An alert is a site condition raised or cleared: the same kinds. */
export const ALERT_KINDS = CONDITION_KINDS;
export const AlertKind = z.enum(ALERT_KINDS);
export type AlertKind = z.infer<typeof AlertKind>;

/** The longest `detail` an alert carries; a longer one is cut (with an ellipsis) before it is queued. */
export const MAX_ALERT_DETAIL_CHARS = 500;

export const AlertMessage = z
  .object({
    alertId: z
      .string()
      .uuid()
      .describe(
        'One occurrence of a condition: its `raised` and its `cleared` carry the same id, so a receiver pairs them.',
      ),
    gatewayId: z.string().min(1).max(64),
    kind: AlertKind,
    key: z
      .string()
      .max(200)
      .describe('The condition key `kind:machineId:slot` (`-` for none): stable across occurrences.'),
    machineId: z
      .string()
      .max(64)
      .optional()
      .describe('The machine it concerns; absent for the gateway itself.'),
    slot: z.number().int().min(0).optional().describe('The slot it concerns (jam, sold_out, low_stock).'),
    severity: z.enum(['warning', 'critical']),
    detail: z.string().max(MAX_ALERT_DETAIL_CHARS).describe('For people: what was seen.'),
    state: z.enum(['raised', 'cleared']),
    since: z.number().int().describe('When the condition was first raised, Unix ms.'),
    at: z
      .number()
      .int()
      .describe('When this state began (`since` for raised, the clear time for cleared), Unix ms.'),
  })
  .strict()
  .describe('A condition of the site raised or cleared (docs/alerts.md).');
export type AlertMessage = z.infer<typeof AlertMessage>;

/** The header that carries a webhook's signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const ALERT_SIGNATURE_HEADER = 'x-vendgate-signature';

/**
 * The webhook signature, Stripe's scheme: HMAC-SHA256 with the webhook's
 * secret over `<t>.<body>`, where `t` is the Unix time in seconds it was
 * sent and `body` the exact bytes posted. Each attempt is signed afresh,
 * so a receiver may refuse old timestamps to stop replays.
 */
export function signAlertWebhook(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`, 'utf8').digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

export type AlertSignatureCheck =
  | { ok: true; timestamp: number }
  | { ok: false; reason: 'malformed' | 'mismatch' | 'stale' };

/**
 * What a receiver runs: parses the header, recomputes the HMAC over the raw
 * body it received and compares in constant time, and refuses a timestamp
 * more than `toleranceS` (default 300) from its own clock.
 */
export function verifyAlertWebhook(
  secret: string,
  body: string,
  header: string | undefined,
  opts: { nowS?: number; toleranceS?: number } = {},
): AlertSignatureCheck {
  if (header === undefined || header.length > 512) return { ok: false, reason: 'malformed' };
  const parts = new Map<string, string[]>();
  for (const item of header.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) return { ok: false, reason: 'malformed' };
    const name = item.slice(0, eq).trim();
    parts.set(name, [...(parts.get(name) ?? []), item.slice(eq + 1).trim()]);
  }
  const t = parts.get('t');
  const macs = parts.get('v1') ?? [];
  if (t?.length !== 1 || !/^\d{1,12}$/.test(t[0]!) || macs.length === 0)
    return { ok: false, reason: 'malformed' };
  const timestamp = Number(t[0]);
  const expected = Buffer.from(signAlertWebhook(secret, body, timestamp).split('v1=')[1]!, 'hex');
  const match = macs.some((m) => {
    if (!/^[0-9a-f]{64}$/.test(m)) return false;
    return timingSafeEqual(Buffer.from(m, 'hex'), expected);
  });
  if (!match) return { ok: false, reason: 'mismatch' };
  const nowS = opts.nowS ?? Math.floor(Date.now() / 1000);
  if (Math.abs(nowS - timestamp) > (opts.toleranceS ?? 300)) return { ok: false, reason: 'stale' };
  return { ok: true, timestamp };
}
