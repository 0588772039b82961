/**
 * The operator's telemetry routes: sales per day in the site's time zone,
 * the site's conditions, select-then-pay sessions and the machines' state.
 * Registered by api/server.ts after its auth hook, so the operator token
 * guards them like every other route. Read-only: they change nothing.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ConditionKind } from '../contract/events.ts';
import { ErrorCode } from '../core/errors.ts';
import type { ClearedCondition, Condition } from '../gateway/conditions/conditions.ts';
import type { SalesReport } from '../gateway/telemetry/sales.ts';
import { MAX_SALES_DAYS } from '../gateway/telemetry/sales.ts';
import { MAX_SESSIONS, SESSION_OUTCOMES, type SessionSummary } from '../gateway/telemetry/sessions.ts';
import { COMMON_ERRORS, errorResponses, parseInput } from './errors.ts';
import { jsonSchema } from './schemas.ts';

/** One machine as GET /api/machines shows it. */
export interface MachineSummary {
  machineId: string;
  driver: string;
  online: boolean;
  doorOpen?: boolean;
  temperatureDeciC?: number;
  lastSeenAt?: number;
}

/** What the routes read; main/gateway.ts passes the gateway's parts. */
export interface TelemetryApiDeps {
  sales: { report(days: number): SalesReport };
  conditions: { active(): Condition[]; recent(): ClearedCondition[] };
  sessions: { latest(limit: number): SessionSummary[] };
  machines: () => MachineSummary[];
}

const Amount = z.number().int().describe('Minor units of `currency` (fen for CNY).');
const Currency = z.string().describe('ISO 4217 code.');

export const SalesQuery = z
  .object({
    days: z.coerce
      .number()
      .int()
      .min(1)
      .max(MAX_SALES_DAYS)
      .default(7)
      .describe(`How many local days, today included (1-${MAX_SALES_DAYS}).`),
  })
  .strict();

export const SalesResponse = z.object({
  timeZone: z.string().describe("The site's IANA time zone the days follow (config timeZone)."),
  days: z
    .array(
      z.object({
        date: z.string().describe('Local date, YYYY-MM-DD.'),
        byMachine: z.array(
          z.object({ machineId: z.string(), currency: Currency, count: z.number().int(), revenue: Amount }),
        ),
        byProduct: z.array(
          z.object({
            machineId: z.string(),
            slot: z.number().int(),
            product: z.string().optional().describe("The slot's product name, when configured."),
            currency: Currency,
            count: z.number().int(),
            revenue: Amount,
          }),
        ),
        refunds: z.array(z.object({ currency: Currency, count: z.number().int(), amount: Amount })),
      }),
    )
    .describe('Today first. A sale is an order dispensed that day; a refund one refunded that day.'),
});

const ConditionSchema = z.object({
  key: z.string().describe('Stable per kind, machine and slot.'),
  kind: ConditionKind,
  machineId: z.string().optional(),
  slot: z.number().int().optional(),
  severity: z.enum(['warning', 'critical']),
  detail: z.string(),
  since: z.number().int().describe('Unix ms it was first raised.'),
  updatedAt: z.number().int().describe('Unix ms of its latest report.'),
});

export const ConditionsResponse = z.object({
  active: z.array(ConditionSchema).describe('Oldest first.'),
  recent: z
    .array(ConditionSchema.extend({ clearedAt: z.number().int() }))
    .describe('Cleared lately, newest first (at most 200).'),
});

export const SessionsQuery = z
  .object({ limit: z.coerce.number().int().min(1).max(MAX_SESSIONS).default(50) })
  .strict();

export const SessionsResponse = z.object({
  sessions: z
    .array(
      z.object({
        sessionId: z.string(),
        machineId: z.string(),
        item: z.number().int(),
        price: z.object({ amount: Amount, currency: Currency }),
        state: z.enum(['creating', 'awaiting', 'approved', 'closed']),
        startedAt: z.number().int(),
        endedAt: z.number().int().optional(),
        outcome: z
          .enum(SESSION_OUTCOMES)
          .describe('`open` until it ends; `not-paid`: it ended before a payment arrived.'),
      }),
    )
    .describe('Newest first.'),
});

export const MachinesResponse = z.object({
  machines: z.array(
    z.object({
      machineId: z.string(),
      driver: z.string(),
      online: z.boolean(),
      doorOpen: z.boolean().optional().describe('Absent: the controller reports no door.'),
      temperatureDeciC: z
        .number()
        .int()
        .optional()
        .describe('Cabinet temperature, tenths of a degree Celsius; absent: none reported.'),
      lastSeenAt: z
        .number()
        .int()
        .optional()
        .describe('Unix ms: now while online, else when it was last online.'),
    }),
  ),
});

export function registerTelemetryRoutes(
  app: FastifyInstance,
  deps: TelemetryApiDeps,
  security: { security: Array<Record<string, string[]>> },
): void {
  const common = [...COMMON_ERRORS];
  app.get(
    '/api/sales',
    {
      schema: {
        summary: "Sales, revenue and refunds per day in the site's time zone, per machine and product",
        ...security,
        querystring: jsonSchema(SalesQuery, 'input'),
        response: { 200: jsonSchema(SalesResponse), ...errorResponses(ErrorCode.HttpBadRequest, ...common) },
      },
    },
    async (req) => deps.sales.report(parseInput(SalesQuery, req.query, 'query').days),
  );

  app.get(
    '/api/conditions',
    {
      schema: {
        summary: 'The active conditions (faults and warnings) and those cleared lately',
        ...security,
        response: { 200: jsonSchema(ConditionsResponse), ...errorResponses(...common) },
      },
    },
    async () => ({ active: deps.conditions.active(), recent: deps.conditions.recent() }),
  );

  app.get(
    '/api/sessions',
    {
      schema: {
        summary: 'Select-then-pay sessions and how they ended, newest first',
        ...security,
        querystring: jsonSchema(SessionsQuery, 'input'),
        response: {
          200: jsonSchema(SessionsResponse),
          ...errorResponses(ErrorCode.HttpBadRequest, ...common),
        },
      },
    },
    async (req) => ({ sessions: deps.sessions.latest(parseInput(SessionsQuery, req.query, 'query').limit) }),
  );

  app.get(
    '/api/machines',
    {
      schema: {
        summary: 'Every machine: driver, online, door and temperature as last reported',
        ...security,
        response: { 200: jsonSchema(MachinesResponse), ...errorResponses(...common) },
      },
    },
    async () => ({ machines: deps.machines() }),
  );
}
