import { z } from 'zod';
import { EpochMs, MachineId, Money, OrderId, Provider, Slot } from './common.ts';

/**
 * Requests the gateway makes of the platform over `req/{type}`, answered on
 * `res/{type}` with the same correlation id, in the envelopes of envelopes.ts.
 */
export const RequestSchemas = {
  'order.create': {
    request: z
      .object({
        sessionId: z.string().min(1).max(64).describe('The gateway cashless session this order is for.'),
        machineId: MachineId,
        slot: Slot.describe('The item the customer selected on the machine.'),
        price: Money.describe('The price the machine asks, in minor units.'),
        deadline: EpochMs.describe('The session ends then: the order must be paid before it.'),
      })
      .strict()
      .describe('Select-then-pay: create a payment order for a vend the customer selected on the machine.'),
    response: z
      .object({
        orderId: OrderId,
        paymentUrl: z
          .string()
          .min(1)
          .max(1024)
          .regex(/^[a-z][a-z0-9+.-]*:\S+$/i, 'an absolute URL, e.g. weixin://wxpay/bizpayurl?pr=...')
          .describe('What the payment QR encodes (WeChat code_url, Alipay qr_code, or a platform page).'),
        providers: z.array(Provider).min(1).max(8),
        expiresAt: EpochMs,
      })
      .strict(),
  },
} as const;

export type RequestType = keyof typeof RequestSchemas;
export type RequestData<T extends RequestType> = z.infer<(typeof RequestSchemas)[T]['request']>;
export type ResponseData<T extends RequestType> = z.infer<(typeof RequestSchemas)[T]['response']>;
