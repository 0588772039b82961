import { z } from 'zod';
import { EpochMs, MachineId, Money, OrderId, Provider, Slot } from './common.ts';
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
  'campaign.upsert': CampaignSpec.describe(
    'Create or change a shake-for-coupon campaign. Issued counts survive changes; an ended campaign stays ended.',
  ),
  'campaign.end': z
    .object({ campaignId: CampaignId, reason: z.string().max(200).optional() })
    .strict()
    .describe('End a campaign now: later claims are refused; coupons already issued stay redeemable.'),
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
