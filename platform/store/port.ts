/**
 * The platform's store, as the rest of the platform sees it: repositories
 * over one schema that runs on an embedded SQLite file (the default, no
 * server process) or on PostgreSQL (a fleet, several replicas). Every state
 * change is a conditional update (`UPDATE ... WHERE state = $old`) that
 * reports whether it happened, so when two replicas race for the same
 * transition exactly one of them wins and the other sees `false`.
 *
 * Money is integer minor units with an ISO 4217 currency; instants are Unix
 * milliseconds; JSON columns come back parsed.
 */
import type { GatewayStatus } from '../../contract/events.ts';

export type StoreBackend = 'sqlite' | 'postgres';

// ---------------------------------------------------------------- gateways

export interface GatewayRow {
  gatewayId: string;
  /** The last retained status message, as received (validated). */
  lastStatus: GatewayStatus | null;
  online: boolean;
  /** The last time anything arrived from it (status, event, request). */
  lastSeenAt: number | null;
  /** Every event with seq <= this is stored (or reported dropped): what `ack {upTo}` says. */
  ackedUpTo: number;
  /** How the watermark began: 'zero' (a gateway seen from its first event) or 'status' (learned from a birth). */
  watermarkSource: 'zero' | 'status';
  /** The outbox depth its last status reported. */
  outboxDepth: number | null;
  /**
   * Base64 raw Ed25519 key its events, requests and statuses must verify
   * with: pinned from its first verified status (trust on first use), or set
   * by an operator; null until then.
   */
  publicKey: string | null;
  createdAt: number;
}

export interface GatewayRepo {
  get(gatewayId: string): Promise<GatewayRow | undefined>;
  list(): Promise<GatewayRow[]>;
  /** Inserts the gateway when unknown (watermark 0); returns true when it was new. */
  ensure(gatewayId: string, at: number): Promise<boolean>;
  /** `ensure` for many in one statement. */
  ensureMany(gatewayIds: readonly string[], at: number): Promise<void>;
  /** The stored watermarks of these gateways (absent ones are left out). */
  watermarks(gatewayIds: readonly string[]): Promise<Map<string, number>>;
  /**
   * Records a status message: last status, online, outbox depth, last seen.
   * For a gateway with no stored event and a zero watermark whose status
   * reports `lastSeq` and `outbox.pending`, the watermark becomes
   * `lastSeq - pending` (source 'status'): the platform attaches to a gateway
   * that has been running without waiting for seqs it will never resend.
   */
  recordStatus(gatewayId: string, status: GatewayStatus, at: number): Promise<void>;
  touch(gatewayId: string, at: number): Promise<void>;
  /** Conditional: moves the watermark only forward (`WHERE acked_up_to < $upTo`). */
  advanceWatermark(gatewayId: string, upTo: number): Promise<boolean>;
  setPublicKey(gatewayId: string, publicKey: string | null): Promise<void>;
  /**
   * Trust on first use: stores `publicKey` only when the gateway has none
   * (conditional, so replicas racing agree on the first), and returns the
   * key stored afterwards, the one to verify with; undefined for an unknown
   * gateway (call `ensure` first).
   */
  pinPublicKey(gatewayId: string, publicKey: string): Promise<string | undefined>;
}

// ---------------------------------------------------------------- events

export interface EventRow {
  gatewayId: string;
  seq: number;
  eventId: string;
  type: string;
  /** The gateway's timestamp of the event. */
  ts: number;
  data: unknown;
  /**
   * Why the event is stored but not handled: its envelope and signature were
   * good but its data breaks the type's schema (or the type is unknown). It
   * still counts for the watermark, so one bad event cannot stall a gateway.
   */
  problem: string | null;
  receivedAt: number;
}

export type EventInsert = EventRow;

/** Why an insert did not store: the same seq or the same event id is already there. */
export type EventInsertResult = 'stored' | 'duplicate';

export interface EventRepo {
  /** Stores once by (gateway, seq) and by event id (`ON CONFLICT DO NOTHING`). */
  insert(e: EventInsert): Promise<EventInsertResult>;
  /** `insert` for many rows in one statement; returns the `${gatewayId} ${seq}` keys that were stored. */
  insertMany(rows: readonly EventInsert[]): Promise<Set<string>>;
  get(gatewayId: string, seq: number): Promise<EventRow | undefined>;
  byId(eventId: string): Promise<EventRow | undefined>;
  list(gatewayId: string, opts?: { afterSeq?: number; limit?: number; type?: string }): Promise<EventRow[]>;
  count(gatewayId?: string): Promise<number>;
  /**
   * Seqs of this gateway above `afterSeq` that are stored or reported dropped
   * (outbox.dropped), ascending, at most `limit`: what the watermark walks.
   */
  coveredSeqsAbove(gatewayId: string, afterSeq: number, limit: number): Promise<number[]>;
  /** coveredSeqsAbove for many gateways at once, each above its stored watermark, ascending. */
  coveredAboveWatermarks(gatewayIds: readonly string[]): Promise<Map<string, number[]>>;
  /** Records seqs an `outbox.dropped` said will never come (idempotent). */
  recordDropped(gatewayId: string, seqs: readonly number[]): Promise<void>;
}

// ---------------------------------------------------------------- orders

/**
 * created -> paid -> (dispensed | refund_requested -> refunded) | closed | unresolved.
 * `closed`: closed at the provider before payment. `unresolved`: the gateway
 * could not tell whether it dispensed, or reconciliation found a mismatch.
 */
export const ORDER_STATES = [
  'created',
  'paid',
  'dispensed',
  'refund_requested',
  'refunded',
  'closed',
  'unresolved',
] as const;
export type PlatformOrderState = (typeof ORDER_STATES)[number];

/** The transitions the store allows; anything else is refused before any SQL runs. */
export const ORDER_TRANSITIONS: Readonly<Record<PlatformOrderState, readonly PlatformOrderState[]>> = {
  created: ['paid', 'closed', 'unresolved'],
  paid: ['dispensed', 'refund_requested', 'unresolved'],
  dispensed: ['refund_requested'],
  refund_requested: ['refunded', 'unresolved'],
  refunded: [],
  closed: ['paid', 'unresolved'], // a payment that lands after a close (WeChat ORDERPAID) must still be honoured
  unresolved: ['dispensed', 'refund_requested', 'refunded'],
};

/** `item`: a product chosen on the phone or the machine, then paid. `credit`: pay first, then choose on the machine. */
export const ORDER_KINDS = ['item', 'credit'] as const;
export type OrderKind = (typeof ORDER_KINDS)[number];

export interface OrderRow {
  outTradeNo: string;
  kind: OrderKind;
  gatewayId: string;
  machineId: string;
  /** The product's slot; for a credit order 0 until the gateway reports what it vended. */
  slot: number;
  amount: number;
  currency: string;
  provider: string;
  state: PlatformOrderState;
  /** A credit order: the part of the credit the machine vended (the rest is refunded); null until then. */
  vendedAmount: number | null;
  /** Cashless session (select then pay), when the gateway asked for this order. */
  sessionId: string | null;
  couponCode: string | null;
  /** The provider's transaction id once paid. */
  transactionId: string | null;
  /** Cross-border: what the payer paid in their wallet currency, and the rate. */
  payerAmount: number | null;
  payerCurrency: string | null;
  exchangeRate: string | null;
  /** HMAC-SHA256 (config key) of the provider's payer id: never the id itself. */
  payerHash: string | null;
  /** Why it went unresolved/refunded/closed, for operators. */
  reason: string | null;
  expiresAt: number;
  createdAt: number;
  updatedAt: number;
  paidAt: number | null;
}

export interface OrderCreate {
  outTradeNo: string;
  /** Default `item`. */
  kind?: OrderKind;
  gatewayId: string;
  machineId: string;
  slot: number;
  amount: number;
  currency: string;
  provider: string;
  sessionId?: string;
  couponCode?: string;
  expiresAt: number;
  createdAt: number;
}

/** Columns a transition may set along with the state. */
export interface OrderPatch {
  transactionId?: string;
  payerAmount?: number;
  payerCurrency?: string;
  exchangeRate?: string;
  /** The raw payer id: the store hashes it (HMAC-SHA256) and stores only the hash. */
  payerId?: string;
  reason?: string;
  paidAt?: number;
  /** A credit order's vend: the slot the machine vended and the part of the credit spent. */
  slot?: number;
  vendedAmount?: number;
}

export interface OrderRepo {
  /** `ON CONFLICT DO NOTHING`: false when the out_trade_no exists. */
  create(o: OrderCreate): Promise<boolean>;
  get(outTradeNo: string): Promise<OrderRow | undefined>;
  /** Several orders in one statement, by out_trade_no (those that exist). */
  getMany(outTradeNos: readonly string[]): Promise<Map<string, OrderRow>>;
  /**
   * `UPDATE orders SET state = $to ... WHERE out_trade_no = $1 AND state = $from`:
   * true when this caller made the transition. Throws StoreTransitionInvalid
   * for a transition ORDER_TRANSITIONS does not allow.
   */
  transition(
    outTradeNo: string,
    from: PlatformOrderState,
    to: PlatformOrderState,
    at: number,
    patch?: OrderPatch,
  ): Promise<boolean>;
  /**
   * The common case of a payment in one statement: `created -> paid` only when the order is still
   * `created` and is this provider's for exactly this amount and currency (`UPDATE ... RETURNING`);
   * the row as it is now, or undefined when any of that does not hold (nothing changed).
   */
  payCreated(
    outTradeNo: string,
    expect: { provider: string; amount: number; currency: string },
    at: number,
    patch: OrderPatch,
  ): Promise<OrderRow | undefined>;
  listByState(state: PlatformOrderState, opts?: { limit?: number; before?: number }): Promise<OrderRow[]>;
  /** Orders still `created` whose expiresAt is before `at` (to close them). */
  listExpired(at: number, limit?: number): Promise<OrderRow[]>;
  /** Orders created in [from, to) (reconciliation of a bill day). */
  listCreatedBetween(from: number, to: number): Promise<OrderRow[]>;
}

// ---------------------------------------------------------------- notifications

export interface NotificationRepo {
  /**
   * Records a provider notification by its dedupe key (transaction id or
   * notify id); true the first time, false for a retry already seen.
   */
  record(provider: string, key: string, outTradeNo: string | null, at: number): Promise<boolean>;
  /** `record` for several keys in one statement; returns the keys recorded for the first time. */
  recordMany(
    provider: string,
    keys: readonly string[],
    outTradeNo: string | null,
    at: number,
  ): Promise<Set<string>>;
  seen(provider: string, key: string): Promise<boolean>;
}

// ---------------------------------------------------------------- refunds

export const REFUND_STATES = ['pending', 'accepted', 'succeeded', 'refused', 'abnormal'] as const;
export type RefundState = (typeof REFUND_STATES)[number];

export interface RefundRow {
  /** Stable for the life of the refund: every retry sends the same one (the provider dedupes on it). */
  outRefundNo: string;
  outTradeNo: string;
  amount: number;
  currency: string;
  reason: string;
  state: RefundState;
  attempts: number;
  /** When the next attempt is due (pending) or the next status query (accepted). */
  nextAttemptAt: number | null;
  providerRefundId: string | null;
  /** The last outcome in words (provider code and message, or an error), for operators. */
  outcome: string | null;
  /** The gateway event that asked for it, when a gateway did. */
  sourceEventId: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface RefundCreate {
  outRefundNo: string;
  outTradeNo: string;
  amount: number;
  currency: string;
  reason: string;
  sourceEventId?: string;
  nextAttemptAt: number;
  createdAt: number;
}

export interface RefundAttempt {
  state: RefundState;
  nextAttemptAt: number | null;
  outcome?: string;
  providerRefundId?: string;
}

export interface RefundRepo {
  /** `ON CONFLICT DO NOTHING` on out_refund_no and on the source event id: false when either exists. */
  create(r: RefundCreate): Promise<boolean>;
  get(outRefundNo: string): Promise<RefundRow | undefined>;
  forOrder(outTradeNo: string): Promise<RefundRow[]>;
  /** Refunds in `pending` or `accepted` due at or before `at`, oldest first. */
  due(at: number, limit?: number): Promise<RefundRow[]>;
  /**
   * Conditional on state and attempt count (`WHERE state = $from AND attempts = $seen`),
   * so two replicas never both record the same attempt; increments attempts.
   */
  recordAttempt(
    outRefundNo: string,
    from: RefundState,
    seenAttempts: number,
    next: RefundAttempt,
    at: number,
  ): Promise<boolean>;
}

// ---------------------------------------------------------------- commands

export const COMMAND_STATES = ['recorded', 'published', 'failed'] as const;
export type CommandState = (typeof COMMAND_STATES)[number];

export interface CommandRow {
  commandId: string;
  gatewayId: string;
  type: string;
  /** The exact signed wire payload (SignedCommand JSON): a resend publishes these bytes. */
  payload: string;
  state: CommandState;
  createdAt: number;
  publishedAt: number | null;
}

export interface CommandRepo {
  record(c: {
    commandId: string;
    gatewayId: string;
    type: string;
    payload: string;
    at: number;
  }): Promise<boolean>;
  get(commandId: string): Promise<CommandRow | undefined>;
  /** Conditional state change; true when this caller made it. */
  transition(commandId: string, from: CommandState, to: CommandState, at: number): Promise<boolean>;
  /** `transition(id, 'recorded', 'published', at)` for many in one statement; returns how many moved. */
  markPublished(commandIds: readonly string[], at: number): Promise<number>;
  list(opts?: { gatewayId?: string; state?: CommandState; limit?: number }): Promise<CommandRow[]>;
}

// ---------------------------------------------------------------- the store

/** The repositories, bound to one connection or transaction. */
export interface Repositories {
  readonly gateways: GatewayRepo;
  readonly events: EventRepo;
  readonly orders: OrderRepo;
  readonly notifications: NotificationRepo;
  readonly refunds: RefundRepo;
  readonly commands: CommandRepo;
}

/** Inside `store.tx`: the same repositories, plus savepoints for a part that may fail alone. */
/**
 * The common case of a payment as one write (Store.payCreatedOrder): the order, read just before,
 * moves `created -> paid` with both its dedupe keys and its signed command, or nothing is written.
 */
export interface CreatedPayment {
  outTradeNo: string;
  provider: string;
  /**
   * The order as read before the command was signed from it: the write applies only while it is
   * still `created` and still has exactly these (so the command says what the row says).
   */
  expect: {
    amount: number;
    currency: string;
    gatewayId: string;
    machineId: string;
    slot: number;
    kind: OrderKind;
    couponCode: string | null;
  };
  at: number;
  patch: OrderPatch;
  /** The payment's dedupe keys (NotificationRepo): the write applies only if every one is new. */
  keys: readonly string[];
  /** The order's command (CommandRepo.record): recorded with the payment unless its row exists. */
  command: { commandId: string; gatewayId: string; type: string; payload: string; at: number };
}

export type CreatedPaymentResult =
  /** Paid: the order as it is now; commandRecorded false when a row with that command id existed. */
  | { kind: 'paid'; order: OrderRow; commandRecorded: boolean }
  /** Nothing written: the order is not (or no longer) `created` with those fields. */
  | { kind: 'not-created' }
  /** Nothing written: a dedupe key was recorded already. */
  | { kind: 'keys-seen' };

export interface StoreTx extends Repositories {
  /** Runs `fn` in a savepoint: if it throws, only its writes are undone and the error is rethrown. */
  savepoint<T>(fn: (t: StoreTx) => Promise<T>): Promise<T>;
}

export interface PurgeResult {
  events: number;
  notifications: number;
  /** Orders final before the cutoff whose payer hash was cleared. */
  payerHashesCleared: number;
}

export interface Store extends Repositories {
  readonly backend: StoreBackend;
  /**
   * Runs `fn` in one transaction (BEGIN ... COMMIT; ROLLBACK and rethrow if it
   * throws). On SQLite transactions are serialised (one writer); on
   * PostgreSQL each gets its own pooled connection.
   */
  tx<T>(fn: (t: StoreTx) => Promise<T>): Promise<T>;
  /**
   * A payment's common case, committed before it resolves: on PostgreSQL one statement (no
   * BEGIN/COMMIT round trips), shared by the payments written in the same event-loop turn
   * (pay-created-batch.ts); on SQLite one transaction of three. All of it or nothing.
   */
  payCreatedOrder(p: CreatedPayment): Promise<CreatedPaymentResult>;
  /**
   * orders.get outside any transaction; on PostgreSQL the reads asked for in one turn of the event
   * loop share one statement (the notifications that arrive together), on SQLite a plain read.
   */
  getOrderBatched(outTradeNo: string): Promise<OrderRow | undefined>;
  /** HMAC-SHA256 of a payer id with the configured key, hex. */
  hashPayerId(payerId: string): string;
  /** Retention: deletes events and notifications received before `before`; clears payer hashes of final orders. */
  purge(before: number): Promise<PurgeResult>;
  /** The latest migration applied. */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}

export interface StoreOptions {
  backend: StoreBackend;
  /** sqlite: the database file (created with its directory). */
  sqlitePath?: string;
  /** postgres: a connection string, e.g. postgres://user@127.0.0.1:5432/vendgate. */
  postgresUrl?: string;
  /** postgres: most pooled connections. Default 10. */
  poolSize?: number;
  /** The HMAC key for payer ids (at least 16 bytes). */
  payerHashKey: Buffer;
}
