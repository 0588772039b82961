import { z } from 'zod';
import { EpochMs, MachineId, Money, OrderId, Slot } from './common.ts';
import { BeaconId, CampaignId, ClaimId, CouponValue, UserRef } from './coupons.ts';
import { KeyId, SignedEnvelope } from './signed.ts';

/**
 * Every event the gateway publishes, by type. Critical events are about money
 * or devices and are never dropped from the outbox; telemetry may be dropped
 * or expire when the outbox reaches its bound, and such drops are reported.
 */
/** The kinds of site condition: what the gateway's condition board tracks, `machine.condition` reports and alerts announce. */
export const CONDITION_KINDS = [
  'offline',
  'jam',
  'sold_out',
  'low_stock',
  'door_open',
  'temperature',
  'dex_mismatch',
  'outbox_growing',
] as const;
export const ConditionKind = z.enum(CONDITION_KINDS);

export const OrderState = z.enum(['received', 'dispensing', 'dispensed', 'refund_requested', 'unresolved']);
export type OrderState = z.infer<typeof OrderState>;

const ErrorInfo = {
  code: z.number().int().describe('A code from the vendgate error catalogue.'),
  reason: z.string(),
};

/**
 * Bounds on what an answer to a command may carry of it. Whatever arrived
 * (a 60 KB topic, a long type) is only ever echoed as a short excerpt, so a
 * flood of junk cannot grow the store by more than these per stored answer.
 */
export const COMMAND_ANSWER_TOPIC_MAX = 256;
export const COMMAND_ANSWER_REASON_MAX = 512;
export const COMMAND_SUMMARY_MAX_CODES = 32;

const BoundedReason = z.string().max(COMMAND_ANSWER_REASON_MAX);

/** The command an answer is about, as far as it could be read. */
const CommandAnswerInfo = {
  topic: z.string().max(COMMAND_ANSWER_TOPIC_MAX).describe('The topic it arrived on (an excerpt when long).'),
  commandId: z.string().max(64).optional(),
  commandType: z.string().max(64).optional(),
};

/** One slot of a machine catalogue, as the gateway applies it. */
export const CatalogueSlot = z.object({
  slot: Slot,
  product: z.string().max(64).nullable(),
  price: Money.nullable().describe('null: no price set (a cashless machine names its own).'),
  enabled: z.boolean(),
  capacity: z.number().int().positive().nullable(),
  lowStockAt: z.number().int().nonnegative(),
});
export type CatalogueSlot = z.infer<typeof CatalogueSlot>;

/** One slot's stock level. */
export const StockSlot = z.object({
  slot: Slot,
  level: z.number().int().nonnegative().nullable().describe('null: unknown (never refilled nor sensed).'),
  capacity: z.number().int().positive().nullable(),
  source: z.enum(['sensed', 'counted']),
});
export type StockSlot = z.infer<typeof StockSlot>;

const BeaconInfo = {
  name: z.string().max(64).describe('The beacon name from the configuration.'),
  location: z.string().max(128).optional().describe('Where it is mounted, from the configuration.'),
};
const BleAddress = z.string().max(64).describe('The BLE device address, e.g. `c0:ff:ee:00:00:01`.');
const Dbm = z.number().min(-127).max(20);
const DistanceM = z
  .number()
  .nonnegative()
  .nullable()
  .describe('Estimated distance from the gateway, m (log-distance model; rough indoors).');

const Count = z.number().int().nonnegative();
const Amount = z.number().int().nonnegative().describe("Minor units of the read's `currency`.");
const CountValue = z.object({ count: Count, value: Amount }).strict();

/**
 * What a DEX/UCS audit read counts (EVA-DTS VA1, CA2, CA3, DA2/DB2, PA2),
 * as totals since the machine was initialised or as the change since the
 * previous good read. Amounts are minor units of the read's currency.
 */
export const AuditCounters = z
  .object({
    paidVends: CountValue.describe('VA1: every paid vend.'),
    cashSales: CountValue.describe('CA2: vends paid in cash.'),
    cashIn: Amount.describe('CA305 + CA308: coins and bills taken in.'),
    cashless: CountValue.describe("DA2 + DB2: vends paid by the cashless devices (the gateway's payments)."),
    selections: z
      .array(z.object({ selection: z.string().max(32), count: Count, value: Amount }).strict())
      .max(1000)
      .describe('PA1/PA2: paid vends per selection.'),
  })
  .strict();
export type AuditCounters = z.infer<typeof AuditCounters>;

export const EventSchemas = {
  'order.accepted': z
    .object({ orderId: OrderId, machineId: MachineId, slot: Slot, price: Money, expiresAt: EpochMs })
    .describe(
      'A paid order passed validation and was recorded; the gateway will dispense it or request a refund.',
    ),
  'credit.accepted': z
    .object({ orderId: OrderId, machineId: MachineId, credit: Money, expiresAt: EpochMs })
    .describe(
      'Pay first: a paid credit was recorded; the gateway begins a session with it on the machine and ends it with `vend.succeeded` and/or `refund.requested` (amounts exact, the refund being the unspent credit).',
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
  'order.close_requested': z
    .object({ orderId: OrderId, machineId: MachineId, ...ErrorInfo })
    .describe(
      'Select-then-pay: the cashless session ended before payment; close the payment order so it cannot be paid. Sent at most once per order.',
    ),
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
      ...CommandAnswerInfo,
      code: ErrorInfo.code,
      reason: BoundedReason,
    })
    .describe(
      'A command was refused (forged, expired, replayed, misaddressed, malformed); says why. Refusals are rate-limited per gateway: those over the limit are counted in a later `command.suppressed`.',
    ),
  'command.deferred': z
    .object({
      ...CommandAnswerInfo,
      code: ErrorInfo.code.describe('Why it cannot be taken now, e.g. 3005 (the outbox is full).'),
      reason: BoundedReason,
      retryAfterMs: z
        .number()
        .int()
        .positive()
        .describe('Send the same signed command again after about this long (or a newly signed one).'),
    })
    .describe(
      'A valid command was not taken for lack of capacity: nothing was recorded, its id and nonce stay unused, and the platform should retry it (docs/retry-rules.md).',
    ),
  'command.suppressed': z
    .object({
      count: z.number().int().positive().describe('Answers not sent one by one since the previous summary.'),
      byCode: z
        .array(z.object({ code: ErrorInfo.code, count: z.number().int().positive() }))
        .max(COMMAND_SUMMARY_MAX_CODES)
        .describe('How many of them had each error code (0 for a redelivery answered with its state).'),
      firstAt: EpochMs,
      lastAt: EpochMs,
      lastTopic: z.string().max(COMMAND_ANSWER_TOPIC_MAX).describe("An excerpt of the last one's topic."),
    })
    .describe(
      'Answers to commands (refusals, deferrals, redelivery states) that were over the per-gateway rate limit, summarised in one event.',
    ),
  'machine.status': z
    .object({ machineId: MachineId, online: z.boolean(), reason: z.string().optional() })
    .describe('A vending machine controller went online or offline.'),
  'machine.sensors': z
    .object({
      machineId: MachineId,
      doorOpen: z.boolean().optional().describe('Absent: the machine has no door switch.'),
      temperatureDeciC: z
        .number()
        .int()
        .min(-32768)
        .max(32767)
        .optional()
        .describe('Cabinet temperature, tenths of a degree Celsius; absent: no thermometer.'),
      at: EpochMs.describe('When the gateway read it.'),
    })
    .describe(
      "A machine's door or cabinet temperature changed, as its controller reports them. Rate-limited per machine: the latest reading of a burst is sent. Telemetry.",
    ),
  'machine.condition': z
    .object({
      change: z.enum(['raised', 'cleared']),
      kind: ConditionKind,
      machineId: MachineId.optional().describe('Absent for a condition of the gateway itself.'),
      slot: Slot.optional(),
      severity: z.enum(['warning', 'critical']),
      detail: z.string().max(256).describe('For people: what was seen.'),
      since: EpochMs.describe('When the condition was first raised.'),
      clearedAt: EpochMs.optional().describe('With `cleared`: when it ended.'),
    })
    .describe(
      'A condition of the site (a fault or warning: offline, jam, door open, temperature, stock...) was raised or cleared. Telemetry.',
    ),
  'outbox.dropped': z
    .object({
      cause: z
        .enum(['bound', 'expired', 'store-accepted'])
        .describe(
          '`bound` and `expired`: telemetry left the outbox. `store-accepted`: the operator accepted a store that went backwards or was emptied, and the gateway skipped these seqs so none is used twice.',
        ),
      count: z.number().int().positive(),
      seqs: z.array(z.number().int()).describe('The sequence numbers that will never be delivered.'),
      totalDropped: z.number().int(),
      totalExpired: z.number().int(),
    })
    .describe('Telemetry events left the outbox undelivered; their sequence numbers form the gap.'),
  'coupon.issued': z
    .object({
      couponId: z.string().describe('Stable coupon id (orders record it; not a secret).'),
      code: z
        .string()
        .regex(/^[0-9A-Z]{10}$/)
        .describe('The redeemable code to give the user (a bearer secret).'),
      campaignId: CampaignId,
      userRef: UserRef,
      beaconId: BeaconId,
      claimId: ClaimId.optional(),
      value: CouponValue,
      minSpend: Money.optional(),
      issuedAt: EpochMs,
      expiresAt: EpochMs,
    })
    .describe(
      'A claim was honoured: a coupon was issued to the (pseudonymous) user. Counted against the budget.',
    ),
  'coupon.refused': z
    .object({
      campaignId: CampaignId.optional(),
      userRef: UserRef,
      beaconId: z.string().max(128),
      claimId: ClaimId.optional(),
      ...ErrorInfo,
      suppressed: z
        .number()
        .int()
        .positive()
        .optional()
        .describe(
          'Refusals since the previous refusal event that were rate-limited and not sent individually.',
        ),
    })
    .describe(
      'A claim was refused (budget exhausted, user cap, unknown or stale beacon, outside the window...). Telemetry: may be dropped under a burst.',
    ),
  'coupon.redeemed': z
    .object({
      couponId: z.string(),
      campaignId: CampaignId,
      orderId: OrderId,
      machineId: MachineId,
      listPrice: Money,
      discount: Money,
      paid: Money,
    })
    .describe(
      'A coupon took money off an order. Happens at most once per coupon, in the order’s transaction.',
    ),
  'coupon.released': z
    .object({ couponId: z.string(), campaignId: CampaignId, orderId: OrderId, reason: z.string() })
    .describe(
      'The order a coupon was redeemed on was refunded, so the coupon can be used again (until its own expiry).',
    ),
  'coupon.expired': z
    .object({ couponId: z.string(), campaignId: CampaignId, expiresAt: EpochMs })
    .describe('An issued coupon passed its expiry unredeemed and can no longer be used.'),
  'campaign.state': z
    .object({
      campaignId: CampaignId,
      revision: z.number().int().positive(),
      change: z.enum(['upserted', 'ended', 'exhausted']),
      source: z.enum(['config', 'platform']),
      reason: z.string().optional(),
      issued: z.object({ count: z.number().int().nonnegative(), money: Money }),
      budget: z.object({ count: z.number().int().positive(), money: Money }),
    })
    .describe('A campaign was created or changed, ended, or ran out of budget.'),
  'beacon.found': z
    .object({
      beaconId: BeaconId.describe('The configured beacon id (a rotating beacon is named with minor 0).'),
      ...BeaconInfo,
      at: EpochMs.describe('When the sighting that made it present arrived.'),
      address: BleAddress.optional(),
      rssi: Dbm.nullable().describe('Smoothed RSSI, dBm.'),
      distanceM: DistanceM,
    })
    .describe(
      'A configured beacon is present: the gateway scanner saw it several times in a few seconds (hysteresis). Telemetry.',
    ),
  'beacon.lost': z
    .object({
      beaconId: BeaconId,
      ...BeaconInfo,
      lastSeenAt: EpochMs.describe('When the scanner last saw it.'),
      silentForMs: z.number().int().nonnegative().describe('How long it had been silent when declared lost.'),
    })
    .describe(
      'A present beacon has not been heard for the configured time: battery dead, removed, or out of range. Telemetry.',
    ),
  'beacon.health': z
    .object({
      beaconId: BeaconId,
      ...BeaconInfo,
      at: EpochMs,
      battery: z
        .object({
          mv: z.number().int().nonnegative().describe('Battery voltage, mV (Eddystone-TLM).'),
          percent: z.number().int().min(0).max(100).describe('Estimated charge, linear in voltage.'),
        })
        .nullable()
        .describe('From the beacon Eddystone-TLM frames; null when it sends none.'),
      temperatureC: z.number().nullable().describe('Beacon temperature, °C (TLM); null when not measured.'),
      rssi: Dbm.nullable().describe('Smoothed RSSI, dBm.'),
      distanceM: DistanceM,
      advCount: z.number().int().nonnegative().nullable().describe('TLM advertisement count since boot.'),
      uptimeS: z.number().nonnegative().nullable().describe('TLM time since boot, seconds.'),
      reboots: z.number().int().nonnegative().describe('Reboots (battery changes) seen by this gateway.'),
    })
    .describe(
      'A beacon vital signs, at most once per beacon per `ble.fleet.healthEveryMs` (and when its first telemetry arrives). Telemetry.',
    ),
  'beacon.clone_suspected': z
    .object({
      beaconId: BeaconId,
      ...BeaconInfo,
      at: EpochMs,
      kind: z
        .enum(['tlm-counter-backwards', 'tlm-uptime-inconsistent', 'two-addresses', 'rssi-clusters'])
        .describe(
          'The evidence: telemetry counters that contradict each other, two device addresses at once, or two interleaved signal strengths.',
        ),
      reason: z.string().max(512).describe('The evidence in words.'),
      addresses: z.array(BleAddress).max(16).describe('Device addresses advertising this id recently.'),
    })
    .describe(
      'Two transmitters seem to advertise one beacon id (a cloned beacon, used to farm coupons). Claims naming it are refused for `ble.fleet.cloneHoldMs`. Critical.',
    ),
  'catalogue.changed': z
    .object({
      machineId: MachineId,
      commandId: z.string().max(64).optional().describe('The `catalogue.set` that changed it.'),
      by: z.enum(['platform', 'operator']),
      waitedForVend: z.boolean().describe('The change waited for a vend in flight on the machine.'),
      slots: z.array(CatalogueSlot).max(255).describe('The whole machine catalogue after the change.'),
    })
    .describe(
      'A machine catalogue changed (planogram, prices, enabled slots). Carries the whole catalogue, so the last one received is the truth. Critical.',
    ),
  'stock.changed': z
    .object({
      machineId: MachineId,
      cause: z.enum(['vend', 'test_vend', 'refill', 'sensed']),
      commandId: z.string().max(64).optional(),
      waitedForVend: z.boolean().optional(),
      slots: z
        .array(StockSlot)
        .max(255)
        .describe('The slots whose level changed (a whole-machine refill: all).'),
    })
    .describe(
      'Stock levels changed: a vend, a test vend, a refill, or what the machine sensed. Telemetry: each carries the current levels of its slots, so a later one supersedes a dropped one.',
    ),
  'management.refused': z
    .object({
      commandId: z.string().max(64).optional(),
      commandType: z.string().max(64),
      machineId: MachineId,
      ...ErrorInfo,
      waitedForVend: z.boolean().describe('It waited for a vend in flight before being refused.'),
    })
    .describe('A management command was refused: nothing changed. Critical.'),
  'machine.test_vend': z
    .object({
      commandId: z.string().max(64),
      machineId: MachineId,
      slot: Slot,
      outcome: z.enum(['dispensed', 'failed']),
      code: ErrorInfo.code.optional(),
      reason: z.string().optional(),
      waitedForVend: z.boolean(),
    })
    .describe('The outcome of a test vend (no order, no money). Critical.'),
  'machine.reset': z
    .object({
      commandId: z.string().max(64),
      machineId: MachineId,
      outcome: z.enum(['done', 'failed']),
      code: ErrorInfo.code.optional(),
      reason: z.string().optional(),
      waitedForVend: z.boolean(),
    })
    .describe('The outcome of a board reset: the controller answers again (done) or not (failed). Critical.'),
  'audit.read': z
    .object({
      machineId: MachineId,
      readId: z.number().int().positive().describe("The read in the gateway's store (GET /api/audits)."),
      trigger: z.enum(['schedule', 'command', 'api', 'cli']),
      status: z
        .enum(['good', 'flagged', 'failed'])
        .describe(
          '`good`: the audit passed its G85 CRC and segment count; `flagged`: it was read but fails a check (its counters are not used); `failed`: no audit could be read (see `error`).',
        ),
      startedAt: EpochMs,
      finishedAt: EpochMs,
      error: z.object(ErrorInfo).optional(),
      problems: z.array(z.string().max(200)).max(20).describe('What is wrong with a flagged audit.'),
      machineSerial: z.string().max(64).optional().describe('ID101 as the audit states it.'),
      currency: z.string().length(3).optional(),
      totals: AuditCounters.optional().describe("The audit's counters since the machine was initialised."),
      sinceLast: AuditCounters.extend({
        fromReadId: z.number().int().positive(),
        from: EpochMs,
        counterReset: z
          .boolean()
          .describe(
            'A counter went down since the previous read (the machine was reset): its change is its new total.',
          ),
      })
        .optional()
        .describe('The change since the previous good read of this machine.'),
      ledger: z
        .object({
          count: Count,
          value: Amount,
          mismatch: z.boolean(),
          compared: z
            .enum(['cashless', 'non-cash'])
            .describe(
              "`cashless`: the audit's DA/DB vends; `non-cash`: VA1 paid vends less CA2 cash sales (a machine with no cashless device in its audit).",
            ),
        })
        .strict()
        .optional()
        .describe(
          "What the gateway's ledger dispensed on this machine in the same interval, and whether the audit agrees.",
        ),
      unknownSegments: Count.optional(),
    })
    .describe(
      'A DEX/UCS audit was read from a machine (on its schedule, on demand or by command): its counters, the change since the last read and the comparison with the ledger. The raw audit stays on the gateway.',
    ),
} as const;

export type EventType = keyof typeof EventSchemas;
export type EventData<T extends EventType> = z.infer<(typeof EventSchemas)[T]>;

export type EventClass = 'critical' | 'telemetry';
export const EVENT_CLASS: Record<EventType, EventClass> = {
  'order.accepted': 'critical',
  'order.state': 'critical',
  'credit.accepted': 'critical',
  'vend.succeeded': 'critical',
  'vend.failed': 'critical',
  'refund.requested': 'critical',
  'order.unresolved': 'critical',
  'order.close_requested': 'critical',
  'command.rejected': 'critical',
  'command.deferred': 'critical',
  'command.suppressed': 'critical',
  'machine.status': 'telemetry',
  'machine.sensors': 'telemetry',
  'machine.condition': 'telemetry',
  'outbox.dropped': 'critical',
  'coupon.issued': 'critical',
  'coupon.refused': 'telemetry',
  'coupon.redeemed': 'critical',
  'coupon.released': 'critical',
  'coupon.expired': 'critical',
  'campaign.state': 'critical',
  'beacon.found': 'telemetry',
  'beacon.lost': 'telemetry',
  'beacon.health': 'telemetry',
  'beacon.clone_suspected': 'critical',
  'catalogue.changed': 'critical',
  'stock.changed': 'telemetry',
  'management.refused': 'critical',
  'machine.test_vend': 'critical',
  'machine.reset': 'critical',
  'audit.read': 'critical',
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

/**
 * The platform's end-to-end acknowledgement, the signed body of an `ack`
 * message (`{body, sig, keyId}`, signed.ts): every event with seq <= upTo
 * was stored. Cumulative, so a lost or repeated ack does no harm and needs
 * no nonce; the validity window bounds a replay.
 */
export const EventAck = z
  .object({
    gatewayId: z.string().describe('The gateway whose events are acknowledged; others refuse it.'),
    upTo: z.number().int().nonnegative().describe('Every event with seq <= upTo is stored.'),
    issuedAt: EpochMs.describe('When the platform signed it; may run ahead of the gateway by the skew.'),
    expiresAt: EpochMs.describe('Refused at or after this instant, with no skew allowance.'),
    keyId: KeyId.describe(
      'The platform key that signed it; must equal the envelope keyId (default `default`).',
    ),
  })
  .strict()
  .describe('Signed ack body: the platform stored every event with seq <= upTo.');
export type EventAck = z.infer<typeof EventAck>;

/** The wire form of an event on `evt/{type}`: the envelope's JSON text signed by the gateway key. */
export const SignedEvent = SignedEnvelope.extend({
  keyId: KeyId.describe('The gateway key id, as announced in the status message.'),
}).describe(
  'An event: `body` is the EventEnvelope as JSON text, `sig` the gateway Ed25519 signature over it.',
);
export type SignedEvent = z.infer<typeof SignedEvent>;

export const GatewayStatus = z
  .object({
    state: z.enum(['online', 'offline']),
    gatewayId: z.string(),
    issuedAt: EpochMs.optional().describe('When the gateway signed this status.'),
    version: z.string().optional(),
    startedAt: EpochMs.optional(),
    machines: z.array(z.object({ machineId: MachineId, online: z.boolean() })).optional(),
    outbox: z
      .object({ pending: z.number().int(), dropped: z.number().int(), expired: z.number().int() })
      .optional(),
    lastSeq: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe(
        'The highest event seq the gateway has allocated: everything up to it exists or is reported.',
      ),
    ackedSeq: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe(
        'Every event with seq <= ackedSeq was acknowledged and left the outbox: a platform that stored nothing resumes after it.',
      ),
    eventKey: z
      .object({
        alg: z.literal('Ed25519'),
        keyId: KeyId,
        publicKey: z
          .string()
          .regex(/^[A-Za-z0-9+/]{43}=$/, 'a base64 raw 32-byte Ed25519 public key')
          .describe('Padded base64 of the raw 32-byte public key (`vendgate keys gateway` prints it).'),
      })
      .strict()
      .optional()
      .describe('The key the gateway signs events, requests and this status with.'),
    clock: z
      .object({
        ok: z.boolean(),
        skewMs: z.number().int().nullable().describe('Gateway wall clock minus the platform clock, ms.'),
      })
      .strict()
      .optional()
      .describe("The gateway's wall clock checked against the issuedAt of the platform's signed commands."),
    safeMode: z
      .object({
        fault: z.enum(['damaged', 'went-backwards', 'vanished']),
        message: z.string(),
        action: z.string().describe('What the operator must do before the gateway works again.'),
      })
      .optional()
      .describe(
        'Present when the gateway refused to trust its store (state is then offline): it dispenses nothing and publishes no events until the operator acts.',
      ),
  })
  .describe(
    'Retained gateway status, signed by the gateway key. Republished on every (re)connect (birth) and when the ack watermark moves; the MQTT will sets state offline.',
  );
export type GatewayStatus = z.infer<typeof GatewayStatus>;
