import { z } from 'zod';
import { OrderState } from '../contract/events.ts';
import { Money } from '../core/money.ts';

/** HTTP API schemas, once, as zod; fastify gets their JSON Schema form. */
export const ApiError = z
  .object({ code: z.number().int(), name: z.string(), message: z.string() })
  .describe('An error from the vendgate error catalogue.');

export const Order = z.object({
  orderId: z.string(),
  flow: z.enum(['remote', 'cashless']),
  machineId: z.string(),
  slot: z.number().int(),
  price: Money,
  provider: z.string(),
  expiresAt: z.number().int(),
  state: OrderState,
  vendToken: z.number().int().nullable(),
  attempts: z.number().int(),
  outcomeCode: z.number().int().nullable(),
  outcomeNote: z.string().nullable(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
});

export const OrderList = z.object({ orders: z.array(Order), count: z.number().int() });

export const OrderQuery = z
  .object({
    state: OrderState.optional(),
    machineId: z.string().max(32).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

export const OrderParams = z.object({ id: z.string().min(1).max(64) }).strict();

export const Health = z.object({
  status: z.enum(['ok', 'degraded']),
  gatewayId: z.string(),
  version: z.string(),
  uptimeSeconds: z.number(),
  platform: z.object({
    connected: z.boolean(),
    brokerUrl: z.string(),
    ackedSeq: z
      .number()
      .int()
      .optional()
      .describe('Every event up to this seq is acknowledged by the platform.'),
    lastAckAt: z
      .number()
      .int()
      .optional()
      .describe("Unix ms of the platform's last valid ack since the gateway started."),
  }),
  machines: z.array(z.object({ machineId: z.string(), online: z.boolean() })),
  outbox: z.object({
    pending: z.number().int(),
    dropped: z.number().int(),
    expired: z.number().int(),
    lastSeq: z.number().int(),
  }),
  orders: z.record(z.string(), z.number().int()),
  clock: z
    .object({
      ok: z.boolean(),
      skewMs: z.number().int().nullable(),
      maxSkewMs: z.number().int(),
      samples: z.number().int(),
      message: z.string().optional(),
    })
    .optional()
    .describe("The gateway's wall clock against the platform's signed command times."),
});
export type Health = z.infer<typeof Health>;

/** JSON Schema for fastify (validation, serialization and the OpenAPI document). */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'output'): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
}
