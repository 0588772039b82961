/** The platform HTTP API's inputs and outputs, once, as zod. */
import { z } from 'zod';
import { MachineId, Slot } from '../../contract/common.ts';
import { GatewayIdPattern } from '../../contract/topics.ts';
import { Money } from '../../core/money.ts';
import { ORDER_STATES, REFUND_STATES } from '../store/port.ts';

export const ProviderParam = z.enum(['wechat', 'alipay']);
export const GatewayId = z.string().regex(GatewayIdPattern, 'a gateway id: 1-64 of [A-Za-z0-9_-]');
export const MachineParams = z.object({ gatewayId: GatewayId, machineId: MachineId }).strict();
export const OrderNoParams = z.object({ outTradeNo: z.string().regex(/^[A-Za-z0-9_-]{6,32}$/) }).strict();
export const DayParams = z
  .object({ day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a day YYYY-MM-DD') })
  .strict();

export const BuyBody = z.object({ slot: z.coerce.number().pipe(Slot), provider: ProviderParam }).strict();

/** Pay first: the credit's amount comes from the catalogue, so only the provider is chosen. */
export const CreditBody = z.object({ provider: ProviderParam }).strict();

export const CreatedOrder = z.object({
  outTradeNo: z.string(),
  provider: ProviderParam,
  qrContent: z.string(),
  price: Money,
  expiresAt: z.number().int(),
  orderPage: z.string(),
});

export const OrderQuery = z
  .object({
    state: z.enum(ORDER_STATES).optional(),
    gatewayId: GatewayId.optional(),
    limit: z.coerce.number().int().min(1).max(5000).default(500),
  })
  .strict();

export const Order = z.object({
  outTradeNo: z.string(),
  gatewayId: z.string(),
  machineId: z.string(),
  slot: z.number().int(),
  price: Money,
  kind: z
    .enum(['item', 'credit'])
    .describe('`item`: a product paid for; `credit`: a pay-first credit, spent on the machine.'),
  vended: Money.nullable().describe('A credit order: what the machine vended of it (the rest is refunded).'),
  provider: z.string(),
  state: z.enum(ORDER_STATES),
  sessionId: z.string().nullable(),
  transactionId: z.string().nullable(),
  reason: z.string().nullable(),
  expiresAt: z.number().int(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
  paidAt: z.number().int().nullable(),
});

export const Refund = z.object({
  outRefundNo: z.string(),
  outTradeNo: z.string(),
  amount: Money,
  reason: z.string(),
  state: z.enum(REFUND_STATES),
  attempts: z.number().int(),
  nextAttemptAt: z.number().int().nullable(),
  providerRefundId: z.string().nullable(),
  outcome: z.string().nullable(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
});

export const Gateway = z.object({
  gatewayId: z.string(),
  online: z.boolean(),
  lastSeenAt: z.number().int().nullable(),
  ackedUpTo: z.number().int(),
  outboxDepth: z.number().int().nullable(),
  machines: z.array(z.object({ machineId: z.string(), online: z.boolean() })),
  version: z.string().nullable(),
});

export const ResolveBody = z
  .object({ resolution: z.enum(['dispensed', 'refund']), note: z.string().max(200).default('') })
  .strict();

export type Order = z.infer<typeof Order>;
export type Refund = z.infer<typeof Refund>;
export type Gateway = z.infer<typeof Gateway>;
