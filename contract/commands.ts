import { z } from 'zod';
import { EpochMs, MachineId, Money, OrderId, Provider, Slot } from './common.ts';
import { CampaignId, CampaignSpec, ClaimRequest, CouponCode } from './coupons.ts';
import { SignedEnvelope } from './signed.ts';

/**
 * Commands from the platform are signed with Ed25519. The wire form keeps the
 * signed body as the exact JSON string that was signed, so no canonical JSON
 * is needed: `sig` is the signature over the UTF-8 bytes of `body`.
 */
export const SignedCommand = SignedEnvelope.describe(
  'A signed command: `body` is the command body as JSON text (see CommandBody); `keyId` names the platform key, `default` when absent.',
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
} as const;
export type CommandType = keyof typeof CommandSchemas;
export type CommandData<T extends CommandType> = z.infer<(typeof CommandSchemas)[T]>;

export const CommandBody = z
  .object({
    id: z.string().min(8).max(64).describe('Unique command id.'),
    type: z.string(),
    gatewayId: z.string().describe('The gateway this command is for; others refuse it.'),
    issuedAt: EpochMs,
    expiresAt: EpochMs,
    nonce: z.string().min(16).max(64),
    data: z.unknown(),
  })
  .strict();
export type CommandBody = z.infer<typeof CommandBody>;
