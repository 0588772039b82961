/**
 * The domain port the gateway core uses to show things on a machine's
 * payment display: a kiosk page in a browser (DisplayHub, served over SSE)
 * or a display device on MQTT (MqttPaymentDisplay). No wire formats or HTML
 * here; the screen schema is zod because a screen crosses the wire to MQTT
 * displays and is validated on both ends.
 */
import { z } from 'zod';
import { EpochMs, OrderId, Provider } from '../../contract/common.ts';
import { Money } from '../../core/money.ts';

/** Languages a display can speak. */
export const LOCALES = ['zh-CN', 'en', 'de', 'ja'] as const;
export const Locale = z.enum(LOCALES).describe('The language a display shows its texts in.');
export type Locale = z.infer<typeof Locale>;
export const DEFAULT_LOCALE: Locale = 'zh-CN';

export const DisplayId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,32}$/, '1-32 characters of letters, digits, _ -')
  .describe('A display id as configured on the gateway (often the machine id).');

/** A URL a phone opens after scanning: http(s) or a payment app scheme such as weixin:// or alipays://. */
export const ScanUrl = z
  .string()
  .min(1)
  .max(1024)
  .regex(/^[a-z][a-z0-9+.-]*:\S+$/i, 'an absolute URL without spaces')
  .describe('What the QR code encodes: the URL a phone opens after scanning.');

/** Short text shown to a person; never HTML (pages insert it with textContent). */
const Text = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^\P{Cc}*$/u, 'no control characters');

/** A product as a display shows it. */
export const DisplayItem = z
  .object({
    name: Text(80).describe('The product name as the customer knows it.'),
    slot: z.number().int().min(1).max(255).optional(),
  })
  .strict();
export type DisplayItem = z.infer<typeof DisplayItem>;

export const IdleScreen = z
  .object({
    kind: z.literal('idle'),
    machineName: Text(60),
    staticQrUrl: ScanUrl.describe("The machine's static remote-vend URL (pay first, then dispense)."),
    cashless: z
      .enum(['select-then-pay', 'pay-first'])
      .optional()
      .describe(
        'An MDB machine: select-then-pay says to choose on the machine; pay-first says to scan, pay, then choose on the machine.',
      ),
  })
  .strict();

/** Pay first: the credit is on the machine; the customer chooses there. */
export const ChooseOnMachineScreen = z
  .object({
    kind: z.literal('choose-on-machine'),
    credit: Money.describe('The credit the customer paid, to spend on one product.'),
    denied: DisplayItem.optional().describe('The last choice, refused for costing more than the credit.'),
  })
  .strict();

export const AwaitingPaymentScreen = z
  .object({
    kind: z.literal('awaiting-payment'),
    orderId: OrderId,
    paymentUrl: ScanUrl.describe('The payment URL the platform returned for this order.'),
    price: Money,
    deadline: EpochMs.describe('When the cashless session times out (the vend is cancelled then).'),
    providers: z.array(Provider).min(1).max(8).describe('Accepted payment providers, e.g. wechat, alipay.'),
    item: DisplayItem,
  })
  .strict();

export const DispensingScreen = z.object({ kind: z.literal('dispensing'), item: DisplayItem }).strict();
export const DoneScreen = z.object({ kind: z.literal('done'), item: DisplayItem }).strict();

/**
 * Reasons a display knows how to say in every language. Any other text is
 * shown as it is.
 */
export const KNOWN_REASONS = [
  'jammed',
  'empty-slot',
  'drop-sensor-miss',
  'motor-fault',
  'unknown-slot',
  'busy',
  'timeout',
  'payment-expired',
  'payment-failed',
  'offline',
  'maintenance',
  'other',
] as const;
export type KnownReason = (typeof KNOWN_REASONS)[number];

export const FailedScreen = z
  .object({
    kind: z.literal('failed'),
    refund: Money.describe('What the customer gets back.'),
    reason: Text(120).describe(`One of ${KNOWN_REASONS.join(', ')}, or free text shown as it is.`),
    item: DisplayItem.optional(),
  })
  .strict();

export const OutOfServiceScreen = z
  .object({
    kind: z.literal('out-of-service'),
    reason: Text(120).describe(`One of ${KNOWN_REASONS.join(', ')}, or free text shown as it is.`),
  })
  .strict();

/** What a payment display shows; one screen at a time. */
export const DisplayScreen = z.discriminatedUnion('kind', [
  IdleScreen,
  AwaitingPaymentScreen,
  DispensingScreen,
  DoneScreen,
  FailedScreen,
  OutOfServiceScreen,
  ChooseOnMachineScreen,
]);
export type DisplayScreen = z.infer<typeof DisplayScreen>;
export type ScreenKind = DisplayScreen['kind'];
export type ScreenOf<K extends ScreenKind> = Extract<DisplayScreen, { kind: K }>;
export const SCREEN_KINDS: readonly ScreenKind[] = [
  'idle',
  'awaiting-payment',
  'dispensing',
  'done',
  'failed',
  'out-of-service',
  'choose-on-machine',
];

/**
 * One screen as rendered on one display: what the hub sends to pages and
 * what MQTT displays receive (retained) on their render topic.
 */
export const RenderCommand = z
  .object({
    displayId: DisplayId,
    /** Increases by one with every render of this display by one gateway process. */
    seq: z.number().int().positive(),
    locale: Locale,
    /** When the gateway rendered it (the page also uses it to correct its countdown for clock skew). */
    at: EpochMs,
    screen: DisplayScreen,
  })
  .strict();
export type RenderCommand = z.infer<typeof RenderCommand>;

/**
 * The gateway-facing port. `show` replaces whatever the display showed.
 * Implementations validate the screen and reject with DisplayScreenInvalid
 * (9101) when it does not match the schema.
 */
export interface PaymentDisplay {
  show(displayId: string, screen: DisplayScreen): Promise<void>;
  /** Changes the display's language; the current screen is shown again in it. */
  setLocale(displayId: string, locale: Locale): Promise<void>;
  localeOf(displayId: string): Locale;
}

/** Locale options shared by implementations. */
export interface DisplayLocaleOptions {
  /** Per-display language; displays not listed use defaultLocale. */
  locales?: Record<string, Locale>;
  /** Default zh-CN. */
  defaultLocale?: Locale;
}
