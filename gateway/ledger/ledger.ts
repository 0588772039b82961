import type { Statement } from 'better-sqlite3';
import type { CommandData } from '../../contract/commands.ts';
import type { OrderState } from '../../contract/events.ts';
import { ErrorCode, type ErrorCodeValue } from '../../core/errors.ts';
import { type Money, sameMoney } from '../../core/money.ts';
import type { VendFailureReason, VendOutcome } from '../../devices/vending/port.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { Db } from '../store/db.ts';
import { inTx } from '../store/tx.ts';
import type { MachineCatalog } from './catalog.ts';

export interface OrderRecord {
  orderId: string;
  flow: 'remote' | 'cashless';
  machineId: string;
  slot: number;
  price: Money;
  provider: string;
  expiresAt: number;
  state: OrderState;
  vendToken: number | null;
  /** The controller's boot epoch when the dispense intent was committed; null if it reported none. */
  boardEpoch: number | null;
  attempts: number;
  outcomeCode: number | null;
  outcomeNote: string | null;
  /** The coupon redeemed on this order, if any. */
  couponId: string | null;
  createdAt: number;
  updatedAt: number;
}

/** The order a coupon is redeemed on: `paid` must be `listPrice` less the coupon's discount. */
export interface RedeemOrder {
  orderId: string;
  machineId: string;
  listPrice: Money;
  paid: Money;
}

export type RedeemResult =
  | { ok: true; discount: Money; couponId?: string }
  | { ok: false; code: ErrorCodeValue; reason: string };

/**
 * The seam to the coupon engine (gateway/coupons). `redeemInTx` runs inside
 * the ledger's transaction: the coupon is used if and only if the order is
 * recorded, and a coupon is used by one order at most.
 */
export interface CouponRedeemer {
  redeemInTx(code: string, order: RedeemOrder): RedeemResult;
  /** The order was refunded: give its coupon back, in the refund's transaction. */
  releaseInTx?(orderId: string, reason: string): boolean;
}

/**
 * The columns every statement here reads an order with, in this order.
 * Rows come back as arrays (better-sqlite3 `raw`): building a 17-property
 * object per row cost more than the row's read itself (5.4 vs 2.5 us per
 * read), and an order is read or returned five times on its way.
 */
const ORDER_COLUMNS =
  'order_id, flow, machine_id, slot, amount, currency, provider, expires_at, state, vend_token, board_epoch, attempts, outcome_code, outcome_note, coupon_id, created_at, updated_at';

type OrderRow = [
  orderId: string,
  flow: 'remote' | 'cashless',
  machineId: string,
  slot: number,
  amount: number,
  currency: string,
  provider: string,
  expiresAt: number,
  state: OrderState,
  vendToken: number | null,
  boardEpoch: number | null,
  attempts: number,
  outcomeCode: number | null,
  outcomeNote: string | null,
  couponId: string | null,
  createdAt: number,
  updatedAt: number,
];

export type ReceiveResult =
  | { kind: 'accepted'; order: OrderRecord }
  | { kind: 'duplicate'; order: OrderRecord }
  | { kind: 'refused'; order: OrderRecord; code: ErrorCodeValue; reason: string };

export type BeginResult =
  | { kind: 'dispense'; vendToken: number; order: OrderRecord }
  | { kind: 'settled'; order: OrderRecord };

/** The failure reason a controller reported, mapped to the error catalogue. */
export const FAILURE_CODE: Record<VendFailureReason, ErrorCodeValue> = {
  jammed: ErrorCode.VendJammed,
  'empty-slot': ErrorCode.VendEmptySlot,
  'drop-sensor-miss': ErrorCode.VendDropSensorMiss,
  'motor-fault': ErrorCode.VendMotorFault,
  'unknown-slot': ErrorCode.VendUnknownSlot,
  busy: ErrorCode.DeviceBusy,
  other: ErrorCode.VendFailed,
};

const TERMINAL: ReadonlySet<OrderState> = new Set(['dispensed', 'refund_requested']);

/**
 * The order ledger: the source of truth for money (README "Exactly once"). Each method is one SQLite transaction that changes an
 * order's state and appends the events that change causes to the outbox, so
 * the two can never disagree. Every paid order ends `dispensed` or
 * `refund_requested`, and the guarded UPDATEs (`WHERE state = ...`) make each
 * terminal transition happen at most once even if called twice.
 */
export class OrderLedger {
  readonly #db: Db;
  readonly #outbox: Outbox;
  readonly #catalog: MachineCatalog;
  readonly #coupons: CouponRedeemer | undefined;
  readonly #onOutcome: ((order: OrderRecord, outcome: VendOutcome) => void) | undefined;
  readonly #now: () => number;
  readonly #get: Statement<[string], OrderRow>;
  readonly #insert: Statement<unknown[], OrderRow>;
  readonly #insertNew: Statement<unknown[], OrderRow>;
  readonly #transition: Statement<[string, number, string, string]>;
  readonly #setState: Statement<
    [OrderState, number | null, string | null, number, string, OrderState],
    OrderRow
  >;
  readonly #begin: Statement<[number, number | null, number, string], OrderRow>;
  readonly #nextToken: Statement<[], { value: string }>;

  constructor(opts: {
    db: Db;
    outbox: Outbox;
    catalog: MachineCatalog;
    now?: () => number;
    /** Redeems `order.paid` coupon codes; without it an order with a coupon is refunded. */
    coupons?: CouponRedeemer;
    /**
     * Told every vend outcome recorded, inside the transaction that records
     * it, so what it writes (the stock count) commits with the outcome.
     */
    onOutcome?: (order: OrderRecord, outcome: VendOutcome) => void;
  }) {
    this.#db = opts.db;
    this.#outbox = opts.outbox;
    this.#catalog = opts.catalog;
    this.#coupons = opts.coupons;
    this.#onOutcome = opts.onOutcome;
    this.#now = opts.now ?? Date.now;
    const db = this.#db;
    // Vend tokens start at a random point per store, so a wiped store never
    // reuses tokens a controller still remembers as dispensed.
    const seed = 1 + Math.floor(Math.random() * 0xfff0_0000);
    db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('next_vend_token', ?)").run(String(seed));
    this.#nextToken = db.prepare(
      "UPDATE meta SET value = CAST((CAST(value AS INTEGER) % 4294967295) + 1 AS TEXT) WHERE key = 'next_vend_token' RETURNING value",
    );
    this.#get = db
      .prepare<[string], OrderRow>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE order_id = ?`)
      .raw(true);
    const insert = `INSERT INTO orders (order_id, flow, machine_id, slot, amount, currency, provider, expires_at, state,
         outcome_code, outcome_note, coupon_id, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
    this.#insert = db.prepare<unknown[], OrderRow>(`${insert} RETURNING ${ORDER_COLUMNS}`).raw(true);
    // No row back: the order id is recorded already (a duplicate); nothing was written.
    this.#insertNew = db
      .prepare<unknown[], OrderRow>(`${insert} ON CONFLICT (order_id) DO NOTHING RETURNING ${ORDER_COLUMNS}`)
      .raw(true);
    this.#transition = db.prepare(
      'INSERT INTO order_transitions (order_id, at, from_state, to_state) VALUES (?, ?, ?, ?)',
    );
    this.#setState = db
      .prepare<[OrderState, number | null, string | null, number, string, OrderState], OrderRow>(
        `UPDATE orders SET state = ?, outcome_code = ?, outcome_note = ?, updated_at = ?
       WHERE order_id = ? AND state = ? RETURNING ${ORDER_COLUMNS}`,
      )
      .raw(true);
    this.#begin = db
      .prepare<[number, number | null, number, string], OrderRow>(
        `UPDATE orders SET state = 'dispensing', vend_token = COALESCE(vend_token, ?),
         board_epoch = CASE WHEN state = 'received' THEN ? ELSE board_epoch END, attempts = attempts + 1, updated_at = ?
       WHERE order_id = ? AND state IN ('received', 'dispensing') RETURNING ${ORDER_COLUMNS}`,
      )
      .raw(true);
  }

  get(orderId: string): OrderRecord | undefined {
    const row = this.#get.get(orderId);
    return row ? toRecord(row) : undefined;
  }

  list(
    filter: { state?: OrderState; machineId?: string; limit?: number; before?: number } = {},
  ): OrderRecord[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.state) {
      where.push('state = ?');
      args.push(filter.state);
    }
    if (filter.machineId) {
      where.push('machine_id = ?');
      args.push(filter.machineId);
    }
    if (filter.before !== undefined) {
      where.push('created_at < ?');
      args.push(filter.before);
    }
    const sql = `SELECT ${ORDER_COLUMNS} FROM orders ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, order_id LIMIT ?`;
    args.push(filter.limit ?? 100);
    return (
      this.#db
        .prepare(sql)
        .raw(true)
        .all(...args) as OrderRow[]
    ).map(toRecord);
  }

  countByState(): Record<string, number> {
    const rows = this.#db.prepare('SELECT state, COUNT(*) AS n FROM orders GROUP BY state').all() as {
      state: string;
      n: number;
    }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  /** Orders whose dispense intent was committed but whose outcome is not known. */
  inFlight(): OrderRecord[] {
    return (
      this.#db
        .prepare(`SELECT ${ORDER_COLUMNS} FROM orders WHERE state = 'dispensing' ORDER BY updated_at`)
        .raw(true)
        .all() as OrderRow[]
    ).map(toRecord);
  }

  /** Orders recorded but not yet started (no byte ever sent for them). */
  queued(): OrderRecord[] {
    return (
      this.#db
        .prepare(`SELECT ${ORDER_COLUMNS} FROM orders WHERE state = 'received' ORDER BY created_at`)
        .raw(true)
        .all() as OrderRow[]
    ).map(toRecord);
  }

  /**
   * Records a paid order from the platform. Idempotent on the order id: a
   * duplicate (providers retry notifications for about a day) is answered
   * with the existing state and never acted on again.
   *
   * With a `couponCode`, the coupon is redeemed in this same transaction
   * after every other check passed, and the paid amount must be the list
   * price (the slot's, else `opts.listPrice`, e.g. the price a cashless
   * vend request named) less the coupon's discount. An invalid coupon
   * refuses the order: the customer paid a discounted price, so refund.
   */
  receivePaid(
    paid: CommandData<'order.paid'>,
    flow: 'remote' | 'cashless' = 'remote',
    opts: {
      listPrice?: Money;
      /** Record the paid order but refund it at once (e.g. it was paid after its cashless session ended). */
      refuse?: { code: ErrorCodeValue; reason: string };
    } = {},
  ): ReceiveResult {
    return inTx(this.#db, (): ReceiveResult => {
      const duplicate = (existing: OrderRow): ReceiveResult => {
        const order = toRecord(existing);
        this.#outbox.append('order.state', { orderId: order.orderId, state: order.state, duplicate: true });
        return { kind: 'duplicate', order };
      };
      // With a coupon, a duplicate must be known before the coupon is redeemed; without one,
      // the insert itself says (one statement instead of a read and an insert).
      const withCoupon = paid.couponCode !== undefined;
      if (withCoupon) {
        const existing = this.#get.get(paid.orderId);
        if (existing) return duplicate(existing);
      }
      const now = this.#now();
      let refusal = opts.refuse ?? this.#validate(paid, now, opts.listPrice);
      let couponId: string | null = null;
      if (!refusal && paid.couponCode !== undefined) {
        const redeemed = this.#redeem(paid, opts.listPrice);
        if (redeemed.ok) couponId = redeemed.couponId ?? null;
        else
          refusal = { code: redeemed.code as ErrorCodeValue, reason: `coupon refused: ${redeemed.reason}` };
      }
      const state: OrderState = refusal ? 'refund_requested' : 'received';
      // RETURNING: the recorded row without reading it back.
      const inserted = (withCoupon ? this.#insert : this.#insertNew).get(
        paid.orderId,
        flow,
        paid.machineId,
        paid.slot,
        paid.price.amount,
        paid.price.currency,
        paid.provider,
        paid.expiresAt,
        state,
        refusal?.code ?? null,
        refusal?.reason ?? null,
        couponId,
        now,
        now,
      );
      if (!inserted) return duplicate(this.#get.get(paid.orderId)!);
      this.#transition.run(paid.orderId, now, '', state);
      const order = toRecord(inserted);
      if (refusal) {
        this.#outbox.append('refund.requested', {
          orderId: paid.orderId,
          refund: paid.price,
          code: refusal.code,
          reason: refusal.reason,
        });
        return { kind: 'refused', order, ...refusal };
      }
      this.#outbox.append('order.accepted', {
        orderId: paid.orderId,
        machineId: paid.machineId,
        slot: paid.slot,
        price: paid.price,
        expiresAt: paid.expiresAt,
      });
      return { kind: 'accepted', order };
    });
  }

  /**
   * Answers an identical redelivery of the `order.paid` that recorded this
   * order (a QoS 1 redelivery, a platform retry) with the order's current
   * state, as a duplicate order id is answered; nothing else changes.
   * Undefined, and nothing queued, when no such order is recorded.
   */
  reportState(orderId: string): OrderRecord | undefined {
    return inTx(this.#db, (): OrderRecord | undefined => {
      const row = this.#get.get(orderId);
      if (!row) return undefined;
      const order = toRecord(row);
      this.#outbox.append('order.state', { orderId, state: order.state, duplicate: true });
      return order;
    });
  }

  /**
   * Commits the intent to dispense before the first byte goes to the
   * controller, and assigns the order's vend token (kept across retries so
   * the controller can dedupe). An order past its expiry is refunded instead.
   * `boardEpoch`: the controller's boot identity now, kept with the intent.
   */
  beginDispense(
    orderId: string,
    opts: {
      boardEpoch?: number | undefined;
      /**
       * The order as the caller last saw it, when nothing else can have
       * moved it since (receivePaid's result in the transaction still open,
       * or the vend runner's read of an order only it moves): spares reading
       * the row again. The guarded UPDATE still refuses an order no longer
       * received or dispensing.
       */
      recorded?: OrderRecord;
    } = {},
  ): BeginResult {
    return inTx(this.#db, (): BeginResult => {
      let order = opts.recorded?.orderId === orderId ? opts.recorded : undefined;
      if (!order) {
        const row = this.#get.get(orderId);
        if (!row) throw new Error(`beginDispense: no order ${orderId}`);
        order = toRecord(row);
      }
      if (TERMINAL.has(order.state) || order.state === 'unresolved') return { kind: 'settled', order };
      const now = this.#now();
      if (order.state === 'received' && order.expiresAt <= now) {
        this.#refund(order, ErrorCode.OrderExpired, 'the paid order expired before it could be dispensed');
        return { kind: 'settled', order: this.get(orderId)! };
      }
      const token = order.vendToken ?? Number(this.#nextToken.get()!.value);
      const res = this.#begin.get(token, opts.boardEpoch ?? null, now, orderId);
      if (!res) throw new Error(`beginDispense: order ${orderId} changed state concurrently`);
      if (order.state === 'received') this.#transition.run(orderId, now, 'received', 'dispensing');
      const begun = toRecord(res);
      return { kind: 'dispense', vendToken: begun.vendToken!, order: begun };
    });
  }

  /** Records what the controller reported. A second call for the same order is a no-op. */
  recordOutcome(orderId: string, outcome: VendOutcome): OrderRecord {
    return inTx(this.#db, (): OrderRecord => {
      const row = this.#get.get(orderId);
      if (!row) throw new Error(`recordOutcome: no order ${orderId}`);
      const order = toRecord(row);
      if (order.state !== 'dispensing' && order.state !== 'unresolved') return order;
      const now = this.#now();
      const base = { orderId, machineId: order.machineId, slot: order.slot, price: order.price };
      this.#onOutcome?.(order, outcome);
      if (outcome.kind === 'dispensed') {
        const dispensed = this.#move(order, 'dispensed', null, null, now);
        this.#outbox.append('vend.succeeded', base);
        return dispensed;
      }
      const code = FAILURE_CODE[outcome.reason];
      const reason = `controller reported ${outcome.reason}${outcome.detail ? ` (${outcome.detail})` : ''}`;
      this.#outbox.append('vend.failed', { ...base, code, reason });
      this.#refund(order, code, reason);
      // Read back: giving the coupon back may have touched the order too.
      return this.get(orderId)!;
    });
  }

  /**
   * The controller confirmed it never saw the vend token and the order has
   * expired meanwhile: no product left the machine, so refund.
   */
  refundNeverDispensed(orderId: string, code: ErrorCodeValue, reason: string): OrderRecord {
    return inTx(this.#db, (): OrderRecord => {
      const order = this.get(orderId);
      if (!order) throw new Error(`refundNeverDispensed: no order ${orderId}`);
      if (order.state === 'dispensing' || order.state === 'received' || order.state === 'unresolved') {
        this.#refund(order, code, reason);
      }
      return this.get(orderId)!;
    });
  }

  /** The outcome could not be learned from the controller: report for reconciliation. */
  markUnresolved(orderId: string, reason: string): OrderRecord {
    return inTx(this.#db, (): OrderRecord => {
      const order = this.get(orderId);
      if (!order) throw new Error(`markUnresolved: no order ${orderId}`);
      if (order.state !== 'dispensing') return order;
      this.#move(order, 'unresolved', ErrorCode.OrderUnresolved, reason, this.#now());
      this.#outbox.append('order.unresolved', {
        orderId,
        machineId: order.machineId,
        slot: order.slot,
        price: order.price,
        vendToken: order.vendToken ?? 0,
        code: ErrorCode.OrderUnresolved,
        reason,
      });
      return this.get(orderId)!;
    });
  }

  #refund(order: OrderRecord, code: ErrorCodeValue, reason: string): void {
    this.#move(order, 'refund_requested', code, reason, this.#now());
    this.#outbox.append('refund.requested', { orderId: order.orderId, refund: order.price, code, reason });
    // The customer gets the money back, so the coupon goes back too.
    if (order.couponId !== null) this.#coupons?.releaseInTx?.(order.orderId, reason);
  }

  /** Moves the order from the state it was read in to `to`; returns the row as it now is. */
  #move(
    order: OrderRecord,
    to: OrderState,
    code: number | null,
    note: string | null,
    now: number,
  ): OrderRecord {
    const row = this.#setState.get(to, code, note, now, order.orderId, order.state);
    if (!row) throw new Error(`order ${order.orderId} was not in state ${order.state}`);
    this.#transition.run(order.orderId, now, order.state, to);
    return toRecord(row);
  }

  /** Redeems the order's coupon inside receivePaid's transaction. */
  #redeem(paid: CommandData<'order.paid'>, fallbackListPrice: Money | undefined): RedeemResult {
    const code = paid.couponCode!;
    if (!this.#coupons) {
      return { ok: false, code: ErrorCode.CouponUnknown, reason: 'coupons are not enabled on this gateway' };
    }
    const listPrice = this.#catalog.machine(paid.machineId)?.slot(paid.slot)?.price ?? fallbackListPrice;
    if (!listPrice) {
      return {
        ok: false,
        code: ErrorCode.CouponPriceUnknown,
        reason: `slot ${paid.slot} of machine "${paid.machineId}" has no configured price to apply a coupon to`,
      };
    }
    const r = this.#coupons.redeemInTx(code, {
      orderId: paid.orderId,
      machineId: paid.machineId,
      listPrice,
      paid: paid.price,
    });
    if (!r.ok) return r;
    // The redeemer checked this already; a disagreement is a bug, and
    // throwing rolls the coupon back with the order.
    const expected = { amount: listPrice.amount - r.discount.amount, currency: listPrice.currency };
    if (!sameMoney(expected, paid.price)) {
      throw new Error(
        `coupon redeemer accepted ${paid.price.amount} ${paid.price.currency} for ${paid.orderId}; expected ${expected.amount} ${expected.currency}`,
      );
    }
    return r;
  }

  #validate(
    paid: CommandData<'order.paid'>,
    now: number,
    fallbackListPrice?: Money,
  ): { code: ErrorCodeValue; reason: string } | undefined {
    const machine = this.#catalog.machine(paid.machineId);
    if (!machine) {
      return {
        code: ErrorCode.OrderUnknownMachine,
        reason: `no machine "${paid.machineId}" on this gateway`,
      };
    }
    const slot = machine.slot(paid.slot);
    if (!slot) {
      return {
        code: ErrorCode.OrderUnknownSlot,
        reason: `machine "${paid.machineId}" has no slot ${paid.slot}`,
      };
    }
    if (slot.disabled) {
      return {
        code: ErrorCode.SlotDisabled,
        reason: `slot ${paid.slot} of machine "${paid.machineId}" is disabled by the operator`,
      };
    }
    // With a coupon the paid amount is checked against the discounted price (#redeem).
    // Without a configured slot price, the caller's list price (what a
    // cashless machine asked for) is the one the payment must match.
    const listPrice = slot.price ?? fallbackListPrice;
    if (paid.couponCode === undefined && listPrice && !sameMoney(listPrice, paid.price)) {
      return {
        code: ErrorCode.OrderAmountInvalid,
        reason: `paid ${paid.price.amount} ${paid.price.currency} but slot ${paid.slot} costs ${listPrice.amount} ${listPrice.currency}`,
      };
    }
    if (paid.expiresAt <= now) {
      return { code: ErrorCode.OrderExpired, reason: 'the paid order arrived after its expiry' };
    }
    return undefined;
  }
}

function toRecord(r: OrderRow): OrderRecord {
  return {
    orderId: r[0],
    flow: r[1],
    machineId: r[2],
    slot: r[3],
    price: { amount: r[4], currency: r[5] },
    provider: r[6],
    expiresAt: r[7],
    state: r[8],
    vendToken: r[9],
    boardEpoch: r[10],
    attempts: r[11],
    outcomeCode: r[12],
    outcomeNote: r[13],
    couponId: r[14],
    createdAt: r[15],
    updatedAt: r[16],
  };
}
