import { z } from 'zod';
import { CurrencyCode, EpochMs, MachineId, Money, OrderId, Provider, Slot } from './common.ts';
import { CampaignId, CampaignSpec, ClaimRequest, CouponCode } from './coupons.ts';
import { SignedEnvelope } from './signed.ts';

/**
 * The largest command a gateway takes: the whole MQTT payload (this
 * SignedCommand as UTF-8 JSON, the escaped body included), in bytes. One
 * number, stated here and in the schema below, and used by the gateway's
 * guard; a larger payload is refused with 3003 before it is parsed. A body
 * can never be longer than the payload that carries it, so the body's own
 * bound below is the same number; what a platform must check is the
 * serialised payload (see `commandPayloadBytes`).
 */
export const COMMAND_MAX_PAYLOAD_BYTES = 16_384;

/** The bytes a signed command takes on the wire, to compare with COMMAND_MAX_PAYLOAD_BYTES. */
export function commandPayloadBytes(signed: SignedCommand): number {
  return Buffer.byteLength(JSON.stringify(signed), 'utf8');
}

/**
 * Commands from the platform are signed with Ed25519. The wire form keeps the
 * signed body as the exact JSON string that was signed, so no canonical JSON
 * is needed: `sig` is the signature over the UTF-8 bytes of `body`.
 */
export const SignedCommand = SignedEnvelope.extend({
  body: z
    .string()
    .max(COMMAND_MAX_PAYLOAD_BYTES)
    .describe(
      `The command body as a JSON string (see CommandBody). The whole payload, this object as UTF-8 JSON, is at most ${COMMAND_MAX_PAYLOAD_BYTES} bytes.`,
    ),
}).describe(
  `A signed command as published on cmd/{type}: \`body\` is the command body as JSON text (see CommandBody); \`keyId\` names the platform key, \`default\` when absent. The payload is at most ${COMMAND_MAX_PAYLOAD_BYTES} bytes of UTF-8 JSON; a larger one is refused (3003) unread.`,
);
export type SignedCommand = z.infer<typeof SignedCommand>;

/**
 * One slot's change in a `catalogue.set`. The price is any JSON number on
 * the wire and checked by the gateway, so a negative, fractional or absurd
 * price is answered with `management.refused` naming why (12003), not
 * dropped as a malformed command.
 */
export const CatalogueSlotChange = z
  .object({
    slot: Slot,
    product: z.string().max(64).optional().describe('Product name shown on displays and the phone page.'),
    price: z
      .object({
        amount: z
          .number()
          .describe(
            'Minor units: an integer from 0 to `management.maxPrice` (at most 10^9); anything else is refused (12003).',
          ),
        currency: CurrencyCode.describe("Must be the machine's currency."),
      })
      .strict()
      .optional(),
    enabled: z.boolean().optional().describe('A disabled slot refuses paid orders (12009).'),
    capacity: z.number().int().min(1).max(1000).optional(),
    lowStockAt: z.number().int().min(0).max(1000).optional(),
  })
  .strict();
export type CatalogueSlotChange = z.infer<typeof CatalogueSlotChange>;

export const CommandSchemas = {
  'order.paid': z
    .object({
      orderId: OrderId,
      machineId: MachineId,
      slot: Slot,
      price: Money,
      provider: Provider,
      expiresAt: EpochMs.describe('After this instant the order must not be dispensed; it is refunded.'),
      couponCode: CouponCode.optional().describe(
        'A coupon the customer used: `price` must be the list price less its discount. Redeemed once, with the order.',
      ),
    })
    .strict()
    .describe('A customer paid; dispense this slot once, or request a refund.'),
  'credit.paid': z
    .object({
      orderId: OrderId,
      machineId: MachineId.describe('A pay-first MDB machine (`cashlessMode: pay-first`).'),
      credit: Money.describe(
        'What the customer paid: the machine takes one selection up to this; the unspent rest is refunded.',
      ),
      provider: Provider,
      expiresAt: EpochMs.describe('After this instant no session is begun with this credit; it is refunded.'),
    })
    .strict()
    .describe(
      'Pay first, then choose: a customer paid a credit for this machine. The gateway begins one MDB session with it (authorization first) and reports `vend.succeeded` with the vended price and `refund.requested` for what was not spent.',
    ),
  'campaign.upsert': CampaignSpec.describe(
    'Create or change a shake-for-coupon campaign. Issued counts survive changes; an ended campaign stays ended.',
  ),
  'campaign.end': z
    .object({ campaignId: CampaignId, reason: z.string().max(200).optional() })
    .strict()
    .describe('End a campaign now: later claims are refused; coupons already issued stay redeemable.'),
  'catalogue.set': z
    .object({ machineId: MachineId, slots: z.array(CatalogueSlotChange).max(255) })
    .strict()
    .describe(
      'Change the planogram: per slot the product, price, enabled, capacity, low-stock mark. All slots or none; applied when no vend is in flight on the machine; answered with `catalogue.changed` or `management.refused`.',
    ),
  'stock.refill': z
    .object({
      machineId: MachineId,
      slot: Slot.optional().describe('Absent: every slot of the machine.'),
      level: z
        .number()
        .optional()
        .describe(
          'The level after the refill; absent: the capacity. More than the capacity is refused (12005).',
        ),
    })
    .strict()
    .describe(
      'Someone refilled the machine: set the stock level, answered with `stock.changed` or `management.refused`.',
    ),
  'machine.test_vend': z
    .object({ machineId: MachineId, slot: Slot })
    .strict()
    .describe(
      'Dispense one item with no order (a service check); counted in stock, answered with `machine.test_vend`.',
    ),
  'machine.reset': z
    .object({ machineId: MachineId })
    .strict()
    .describe(
      "Restart the machine's controller board; answered with `machine.reset` or `management.refused`.",
    ),
  'coupon.claim': ClaimRequest.describe(
    'A visitor shook near a beacon: issue a coupon or refuse, answered with `coupon.issued` or `coupon.refused`.',
  ),
  'machine.audit.read': z
    .object({ machineId: MachineId })
    .strict()
    .describe(
      "Read the machine's DEX/UCS audit now; the result arrives as an `audit.read` event (a failed read too).",
    ),
} as const;
export type CommandType = keyof typeof CommandSchemas;
export type CommandData<T extends CommandType> = z.infer<(typeof CommandSchemas)[T]>;

/**
 * Whether `type` names a command. An own-property check: `type` comes off
 * the wire, and `in` or a plain index would find `constructor`, `toString`
 * or `__proto__` on Object.prototype.
 */
export function isCommandType(type: string): type is CommandType {
  return Object.hasOwn(CommandSchemas, type);
}

export const CommandBody = z
  .object({
    id: z.string().min(8).max(64).describe('Unique command id.'),
    type: z.string().min(1).max(64),
    gatewayId: z.string().max(64).describe('The gateway this command is for; others refuse it.'),
    issuedAt: EpochMs,
    expiresAt: EpochMs,
    nonce: z.string().min(16).max(64),
    data: z.unknown(),
  })
  .strict();
export type CommandBody = z.infer<typeof CommandBody>;
