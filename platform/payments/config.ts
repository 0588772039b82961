/**
 * The payments plane's settings: the public address providers post
 * notifications to and phones open, the machine catalogue the phone page
 * lists, and the timings of the poller, refund retries and dispensing. A
 * zod schema so a platform config file is checked field by field.
 */
import { z } from 'zod';
import { MachineId, Slot } from '../../contract/common.ts';
import { GatewayIdPattern } from '../../contract/topics.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { CurrencyCode, MinorUnits } from '../../core/money.ts';

export const CatalogueProduct = z
  .object({ slot: Slot, name: z.string().min(1).max(64), price: MinorUnits })
  .strict();

export const CatalogueMachine = z
  .object({
    machineId: MachineId,
    name: z.string().min(1).max(64).optional(),
    currency: CurrencyCode.default('CNY'),
    products: z.array(CatalogueProduct).min(1).max(255),
    mode: z
      .enum(['choose-first', 'pay-first'])
      .optional()
      .describe(
        'Default choose-first: the phone page lists the products and sells one. pay-first (an MDB machine whose gateway runs it with `cashlessMode: pay-first`): the phone page sells a credit, the customer chooses on the machine, and the unspent rest of the credit is refunded exactly.',
      ),
    credit: MinorUnits.refine((v) => v > 0, 'a credit above zero')
      .optional()
      .describe(
        "pay-first: the credit sold, in minor units. Default: the machine's highest catalogue price, so every item is affordable and the rest comes back exactly.",
      ),
  })
  .strict()
  .refine((m) => m.credit === undefined || m.mode === 'pay-first', {
    message: 'credit is for a pay-first machine (mode: pay-first)',
    path: ['credit'],
  });

export const CatalogueGateway = z
  .object({
    gatewayId: z.string().regex(GatewayIdPattern, 'a gateway id: 1-64 of [A-Za-z0-9_-]'),
    machines: z.array(CatalogueMachine).min(1),
  })
  .strict();

export const PaymentsConfigSchema = z
  .object({
    /** Where providers and phones reach the platform, e.g. https://pay.example.com (no trailing slash). */
    publicBaseUrl: z.url().transform((u) => u.replace(/\/+$/, '')),
    catalogue: z.array(CatalogueGateway).default([]),
    /** The provider whose QR a select-then-pay session shows (the gateway shows one code). */
    sessionProvider: z.enum(['wechat', 'alipay']).optional(),
    /** How long a remote-vend payment QR stays payable. */
    remoteOrderTtlMs: z
      .number()
      .int()
      .min(60_000)
      .max(2 * 3600_000)
      .default(5 * 60_000),
    /** The gateway must dispense within this long of the payment, else it refunds. */
    dispenseWindowMs: z
      .number()
      .int()
      .min(10_000)
      .default(10 * 60_000),
    /** The poller runs this often. */
    pollIntervalMs: z.number().int().min(50).default(15_000),
    /** Orders still `created` this close to their expiry are queried at the provider. */
    queryBeforeExpiryMs: z.number().int().min(0).default(60_000),
    /** An expired order is closed at the provider this long after its expiry (late payments land first). */
    closeAfterExpiryMs: z.number().int().min(0).default(30_000),
    /** Refund retries: first delay, doubled on each attempt up to the max. */
    refundStatusQueryMs: z
      .number()
      .int()
      .min(10)
      .default(60_000)
      .describe(
        'How long after a provider accepted a refund to ask whether it reached the payer, and between asks.',
      ),
    refundRetryMs: z.number().int().min(10).default(5_000),
    refundRetryMaxMs: z
      .number()
      .int()
      .min(10)
      .default(10 * 60_000),
  })
  .strict();

export type PaymentsConfigInput = z.input<typeof PaymentsConfigSchema>;
export type PaymentsConfig = z.output<typeof PaymentsConfigSchema>;

export function parsePaymentsConfig(input: unknown, where = 'payments'): PaymentsConfig {
  const r = PaymentsConfigSchema.safeParse(input);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${[where, ...i.path].join('.')}: ${i.message}`);
    throw new VendgateError(
      ErrorCode.PlatformConfigInvalid,
      `payments config invalid: ${issues.join('; ')}`,
      {
        fields: r.error.issues.map((i) => i.path.join('.')),
      },
    );
  }
  return r.data;
}
