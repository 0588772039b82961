import { z } from 'zod';
import { EpochMs, MachineId, Money, OrderId, Slot } from './common.ts';

/**
 * Every event the gateway publishes, by type. Critical events are about money
 * or devices and are never dropped from the outbox; telemetry may be dropped
 * or expire when the outbox reaches its bound, and such drops are reported.
 */
export const OrderState = z.enum(['received', 'dispensing', 'dispensed', 'refund_requested', 'unresolved']);
export type OrderState = z.infer<typeof OrderState>;

const ErrorInfo = {
  code: z.number().int().describe('A code from the vendgate error catalogue.'),
  reason: z.string(),
};

export const EventSchemas = {
  'order.accepted': z
    .object({ orderId: OrderId, machineId: MachineId, slot: Slot, price: Money, expiresAt: EpochMs })
    .describe(
      'A paid order passed validation and was recorded; the gateway will dispense it or request a refund.',
    ),
  'order.state': z
    .object({ orderId: OrderId, state: OrderState, duplicate: z.boolean() })
    .describe(
      'The current state of an order, sent in answer to a duplicate `order.paid` instead of acting again.',
    ),
  'vend.succeeded': z
    .object({ orderId: OrderId, machineId: MachineId, slot: Slot, price: Money })
    .describe('The controller reported the product dispensed (drop sensor confirmed).'),
  'vend.failed': z
    .object({ orderId: OrderId, machineId: MachineId, slot: Slot, price: Money, ...ErrorInfo })
    .describe('The controller reported the vend failed; a `refund.requested` for the same order follows.'),
  'refund.requested': z
    .object({ orderId: OrderId, refund: Money, ...ErrorInfo })
    .describe('The gateway asks the platform to refund this paid order. Sent exactly once per order.'),
  'order.unresolved': z
    .object({
      orderId: OrderId,
      machineId: MachineId,
      slot: Slot,
      price: Money,
      vendToken: z.number().int(),
      ...ErrorInfo,
    })
    .describe(
      'The gateway could not learn from the controller whether this order dispensed; reconcile by hand.',
    ),
  'command.rejected': z
    .object({
      topic: z.string(),
      commandId: z.string().optional(),
      commandType: z.string().optional(),
      ...ErrorInfo,
    })
    .describe('A command was refused (forged, expired, replayed, misaddressed, malformed); says why.'),
  'machine.status': z
    .object({ machineId: MachineId, online: z.boolean(), reason: z.string().optional() })
    .describe('A vending machine controller went online or offline.'),
  'outbox.dropped': z
    .object({
      cause: z.enum(['bound', 'expired']),
      count: z.number().int().positive(),
      seqs: z.array(z.number().int()).describe('The sequence numbers that will never be delivered.'),
      totalDropped: z.number().int(),
      totalExpired: z.number().int(),
    })
    .describe('Telemetry events left the outbox undelivered; their sequence numbers form the gap.'),
} as const;

export type EventType = keyof typeof EventSchemas;
export type EventData<T extends EventType> = z.infer<(typeof EventSchemas)[T]>;

export type EventClass = 'critical' | 'telemetry';
export const EVENT_CLASS: Record<EventType, EventClass> = {
  'order.accepted': 'critical',
  'order.state': 'critical',
  'vend.succeeded': 'critical',
  'vend.failed': 'critical',
  'refund.requested': 'critical',
  'order.unresolved': 'critical',
  'command.rejected': 'critical',
  'machine.status': 'telemetry',
  'outbox.dropped': 'critical',
};

export const EventEnvelope = z
  .object({
    id: z.string().uuid().describe('Unique event id.'),
    seq: z
      .number()
      .int()
      .positive()
      .describe('Per-gateway sequence number; survives restarts; gaps only where `outbox.dropped` says.'),
    gatewayId: z.string(),
    ts: EpochMs,
    type: z.string(),
    data: z.unknown(),
  })
  .strict();
export type EventEnvelope = z.infer<typeof EventEnvelope>;

/** The platform's end-to-end acknowledgement: every event with seq <= upTo was stored. */
export const EventAck = z.object({ upTo: z.number().int().nonnegative() }).strict();
export type EventAck = z.infer<typeof EventAck>;

export const GatewayStatus = z
  .object({
    state: z.enum(['online', 'offline']),
    gatewayId: z.string(),
    version: z.string().optional(),
    startedAt: EpochMs.optional(),
    machines: z.array(z.object({ machineId: MachineId, online: z.boolean() })).optional(),
    outbox: z
      .object({ pending: z.number().int(), dropped: z.number().int(), expired: z.number().int() })
      .optional(),
    lastSeq: z.number().int().optional(),
  })
  .describe(
    'Retained gateway status. Republished on every (re)connect (birth); the MQTT will sets state offline.',
  );
export type GatewayStatus = z.infer<typeof GatewayStatus>;
