import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ErrorCodeValue } from '../core/errors.ts';
import type { AlertsReport } from '../gateway/alerts/service.ts';
import { errorResponses } from './errors.ts';
import { jsonSchema } from './schemas.ts';

const Counts = z.object({
  pending: z.number().int().describe('Queued, not delivered yet (retrying or waiting for the link).'),
  delivered: z.number().int().describe('Delivered since the store was made.'),
  failed: z.number().int().describe('Refused for good (a 4xx answer), since the store was made.'),
  dropped: z
    .number()
    .int()
    .describe('Dropped by the queue bound (alerts.queueMax), since the store was made.'),
});

const Item = z.object({
  alertId: z.string(),
  key: z.string().describe('The condition key `kind:machineId:slot`.'),
  kind: z.string(),
  state: z.enum(['raised', 'cleared']),
  attempts: z.number().int(),
  createdAt: z.number().int(),
  nextAt: z.number().int().optional().describe('Pending: the next attempt, Unix ms.'),
  doneAt: z.number().int().optional(),
  lastError: z.string().optional(),
});

export const AlertsReportSchema = z
  .object({
    active: z.number().int().describe('Conditions announced as raised and not yet cleared.'),
    sinks: z.array(
      z.object({
        id: z.string().describe('`mqtt`, or `webhook:` and a hash of the URL.'),
        type: z.enum(['webhook', 'mqtt', 'removed']),
        target: z.string().describe('The webhook URL without its query, or the MQTT topic.'),
        counts: Counts,
        pending: z.array(Item).describe('Oldest first, at most 50.'),
        delivered: z.array(Item).describe('Newest first, at most 50.'),
        failed: z.array(Item).describe('Newest first, at most 50.'),
      }),
    ),
  })
  .describe('The alert queue of each sink (config alerts; docs/alerts.md).');

const NO_ALERTS: AlertsReport = { active: 0, sinks: [] };

/** GET /api/alerts: what each alert sink has queued, delivered and given up on. */
export function registerAlertRoutes(
  app: FastifyInstance,
  opts: {
    report?: () => AlertsReport;
    security: () => { security: Array<Record<string, string[]>> };
    errors: readonly ErrorCodeValue[];
  },
): void {
  app.get(
    '/api/alerts',
    {
      schema: {
        summary: 'The alert queue: pending, delivered and failed alerts per sink (webhooks, MQTT)',
        ...opts.security(),
        response: { 200: jsonSchema(AlertsReportSchema), ...errorResponses(...opts.errors) },
      },
    },
    // Without an alert service (an API built for docs or a test) there are no sinks, hence nothing queued.
    async () => (opts.report ?? (() => NO_ALERTS))(),
  );
}
