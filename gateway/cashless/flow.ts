import type { Statement } from 'better-sqlite3';
import type { CommandData } from '../../contract/commands.ts';
import { RequestSchemas } from '../../contract/requests.ts';
import { type Clock, systemClock, toMonoDeadline } from '../../core/clock.ts';
import { ErrorCode, type ErrorCodeValue } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import type { Money } from '../../core/money.ts';
import type { DisplayItem, DisplayScreen, PaymentDisplay } from '../../devices/display/port.ts';
import type {
  CashlessReader,
  CashlessSessionCancelled,
  CashlessVendRequest,
  CashlessVendResult,
} from '../../devices/vending/mdb/port.ts';
import type { OrderLedger } from '../ledger/ledger.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { Db } from '../store/db.ts';

/** What the flow needs of the platform link. */
export interface PlatformRequester {
  readonly connected: boolean;
  request(type: string, data: unknown, timeoutMs: number): Promise<unknown>;
  notify(): void;
}

export interface CashlessMachine {
  reader: CashlessReader;
  displayId: string;
  /** Product names by item number, for the display. */
  itemNames: ReadonlyMap<number, string>;
  /** Shown when nothing else is (the machine's static remote-vend QR); none = keep the last screen. */
  idle?: DisplayScreen;
}

export interface CashlessFlowOptions {
  db: Db;
  ledger: OrderLedger;
  outbox: Outbox;
  link: PlatformRequester;
  display: PaymentDisplay;
  machines: ReadonlyMap<string, CashlessMachine>;
  log: Log;
  /** Longest wait for the platform to create an order (also bounded by the session deadline). */
  createTimeoutMs?: number;
  /** How long done / failed screens stay before the idle screen returns. */
  resultScreenMs?: number;
  /** Wall time for the timestamps recorded; default `clock.wallMs`. */
  now?: () => number;
  /**
   * A session's deadline and the order-create timeout are measured on
   * `clock.monoMs()` (core/clock.ts), so a wall clock set meanwhile moves
   * neither. Default the system clock.
   */
  clock?: Clock;
}

type SessionState = 'creating' | 'awaiting' | 'approved' | 'closed';

interface SessionRow {
  session_id: string;
  machine_id: string;
  item: number;
  amount: number;
  currency: string;
  deadline: number;
  order_id: string | null;
  state: SessionState;
}

/**
 * Select first, then pay. The gateway is the machine's
 * cashless device: a vend request makes it ask the platform for an order,
 * show the payment QR with the amount and a countdown, wait for the signed
 * `order.paid` inside the reader's response time, approve the vend, and
 * report the result through the ledger.
 *
 * Every session ends exactly one way, recorded in `cashless_sessions` so it
 * survives a restart: paid and approved (then dispensed or refunded by the
 * ledger), or closed before payment (one `order.close_requested` for the
 * platform's order, if one was created). A payment that arrives after its
 * session closed is recorded and refunded, never dispensed.
 */
export class CashlessFlow {
  readonly #o: Required<Omit<CashlessFlowOptions, 'now' | 'clock'>> & { now: () => number };
  readonly #clock: Clock;
  /** Open sessions' deadlines on the monotonic clock, taken when the vend request arrived. */
  readonly #deadlines = new Map<string, number>();
  readonly #byId: Statement<[string], SessionRow>;
  readonly #byOrder: Statement<[string], SessionRow>;
  readonly #insert: Statement<[string, string, number, number, string, number, number, number]>;
  readonly #move: Statement<[SessionState, string | null, number, string, SessionState]>;
  readonly #setOrder: Statement<[string, number, string]>;
  readonly #idleTimers = new Map<string, NodeJS.Timeout>();
  /**
   * Whether any session was ever given an order. Until one is, no order can
   * be this flow's but by its machine, and owns() (asked twice of every
   * remote order) needs no read of the sessions table.
   */
  #hasOrders: boolean;

  constructor(opts: CashlessFlowOptions) {
    this.#clock = opts.clock ?? systemClock;
    const clock = this.#clock;
    this.#o = { createTimeoutMs: 10_000, resultScreenMs: 6_000, now: () => clock.wallMs(), ...opts };
    const db = opts.db;
    this.#byId = db.prepare('SELECT * FROM cashless_sessions WHERE session_id = ?');
    this.#byOrder = db.prepare('SELECT * FROM cashless_sessions WHERE order_id = ?');
    this.#insert = db.prepare(
      `INSERT INTO cashless_sessions (session_id, machine_id, item, amount, currency, deadline, state, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, 'creating', ?, ?)`,
    );
    this.#move = db.prepare(
      'UPDATE cashless_sessions SET state = ?, outcome = COALESCE(?, outcome), updated_at = ? WHERE session_id = ? AND state = ?',
    );
    this.#setOrder = db.prepare(
      "UPDATE cashless_sessions SET order_id = ?, state = 'awaiting', updated_at = ? WHERE session_id = ? AND state = 'creating'",
    );
    this.#hasOrders =
      db.prepare('SELECT 1 FROM cashless_sessions WHERE order_id IS NOT NULL LIMIT 1').get() !== undefined;
    for (const [machineId, m] of opts.machines) {
      m.reader.on(
        'vend-request',
        (req) => void this.#onVendRequest(req).catch((err) => this.#bug(err, machineId)),
      );
      m.reader.on('vend-result', (res) => this.#guard(() => this.#onVendResult(res), machineId));
      m.reader.on('session-cancelled', (ev) => this.#guard(() => this.#onCancelled(ev), machineId));
      m.reader.on('adapter-error', (e) =>
        opts.log.warn({ machineId, code: e.code, text: e.text }, 'cashless adapter reported an error'),
      );
    }
  }

  /**
   * After a restart: sessions still open belonged to a machine that has
   * since timed them out; close their orders. Approved ones whose result was
   * lost cannot be asked about (MDB keeps no vend history): reconciliation.
   */
  recover(): { closed: number; unresolved: number } {
    const rows = this.#o.db
      .prepare("SELECT * FROM cashless_sessions WHERE state IN ('creating', 'awaiting', 'approved')")
      .all() as SessionRow[];
    let closed = 0;
    let unresolved = 0;
    for (const row of rows) {
      if (row.state === 'approved') {
        this.#o.db.transaction(() => {
          this.#move.run('closed', 'unresolved', this.#o.now(), row.session_id, 'approved');
          if (row.order_id)
            this.#o.ledger.markUnresolved(row.order_id, 'gateway restarted while the machine was vending');
        })();
        unresolved++;
      } else {
        this.#close(row, ErrorCode.CashlessSessionClosed, 'the gateway restarted during the session');
        closed++;
      }
    }
    this.#o.link.notify();
    return { closed, unresolved };
  }

  /** Gives the session its order; returns how many rows changed (0: the session was no longer creating). */
  #assignOrder(orderId: string, sessionId: string): number {
    // Raised before the write: one rolled back leaves it raised, and owns() then only reads for nothing.
    this.#hasOrders = true;
    return this.#setOrder.run(orderId, this.#o.now(), sessionId).changes;
  }

  /** True when an `order.paid` belongs to this flow: an order it created, or any order for a cashless machine. */
  owns(orderId: string, machineId: string): boolean {
    if (this.#o.machines.has(machineId)) return true;
    return this.#hasOrders && this.#byOrder.get(orderId) !== undefined;
  }

  /**
   * A signed `order.paid` for one of our orders. Synchronous: it runs inside
   * the link's command transaction; the approval goes out afterwards.
   */
  onPaid(paid: CommandData<'order.paid'>): void {
    const row = this.#byOrder.get(paid.orderId) ?? this.#adopt(paid);
    if (!row) {
      // No session on this machine is waiting for an order: nothing will vend it.
      this.#o.ledger.receivePaid(paid, 'cashless', {
        refuse: {
          code: ErrorCode.CashlessSessionClosed,
          reason: 'no vend session on this machine was waiting for this payment',
        },
      });
      return;
    }
    const m = this.#o.machines.get(row.machine_id);
    const open = m?.reader.session?.sessionId === row.session_id;
    const listPrice: Money = { amount: row.amount, currency: row.currency };
    if (row.state !== 'awaiting' || !open || this.#clock.monoMs() >= this.#monoDeadline(row)) {
      // Paid too late: the machine no longer waits for this vend. Refund.
      const r = this.#o.ledger.receivePaid(paid, 'cashless', {
        listPrice,
        refuse:
          row.state === 'approved'
            ? undefined
            : { code: ErrorCode.CashlessSessionClosed, reason: 'paid after the vend session ended' },
      });
      this.#o.log.info(
        { orderId: paid.orderId, result: r.kind, session: row.state },
        'payment for a closed session',
      );
      return;
    }
    const r = this.#o.ledger.receivePaid(paid, 'cashless', { listPrice });
    if (r.kind === 'duplicate') return;
    if (r.kind === 'refused') {
      this.#o.db.transaction(() =>
        this.#move.run('closed', 'refused', this.#o.now(), row.session_id, 'awaiting'),
      )();
      void m!.reader.deny(row.session_id, r.reason).catch(() => {});
      this.#showResult(m!, {
        kind: 'failed',
        refund: paid.price,
        reason: 'payment-failed',
        item: this.#item(m!, row.item),
      });
      return;
    }
    // Commit the intent before the approval reaches the machine.
    const begin = this.#o.ledger.beginDispense(paid.orderId);
    if (begin.kind !== 'dispense') return;
    this.#move.run('approved', null, this.#o.now(), row.session_id, 'awaiting');
    const machine = m!;
    queueMicrotask(() => {
      void this.#o.display.show(machine.displayId, {
        kind: 'dispensing',
        item: this.#item(machine, row.item),
      });
      machine.reader.approve(row.session_id, paid.price.amount).catch((err: Error) => {
        // Not approved: nothing was vended. Refund.
        this.#o.log.warn({ orderId: paid.orderId, err: err.message }, 'vend approval failed');
        this.#guard(() => {
          this.#o.ledger.recordOutcome(paid.orderId, {
            kind: 'failed',
            vendToken: begin.vendToken,
            slot: row.item,
            reason: 'other',
            detail: `approval failed: ${err.message}`,
          });
          this.#move.run('closed', 'approval-failed', this.#o.now(), row.session_id, 'approved');
        }, row.machine_id);
        this.#o.link.notify();
        this.#showResult(machine, {
          kind: 'failed',
          refund: paid.price,
          reason: 'other',
          item: this.#item(machine, row.item),
        });
      });
    });
  }

  /**
   * A payment can overtake the platform's answer to `order.create` (both are
   * in flight on the same connection): link it to the machine's session that
   * is still waiting for its order. The ledger then checks the price.
   */
  #adopt(paid: CommandData<'order.paid'>): SessionRow | undefined {
    const creating = this.#o.db
      .prepare(
        "SELECT * FROM cashless_sessions WHERE machine_id = ? AND state = 'creating' ORDER BY created_at DESC LIMIT 1",
      )
      .get(paid.machineId) as SessionRow | undefined;
    if (!creating || creating.item !== paid.slot) return undefined;
    if (this.#assignOrder(paid.orderId, creating.session_id) !== 1) return undefined;
    return this.#byId.get(creating.session_id);
  }

  stop(): void {
    for (const t of this.#idleTimers.values()) clearTimeout(t);
    this.#idleTimers.clear();
  }

  /**
   * A session's monotonic deadline: taken on receipt of its vend request;
   * for a session this process did not receive, from its stored wall deadline now.
   */
  #monoDeadline(row: SessionRow): number {
    return this.#deadlines.get(row.session_id) ?? toMonoDeadline(this.#clock, row.deadline);
  }

  async #onVendRequest(req: CashlessVendRequest): Promise<void> {
    const m = this.#o.machines.get(req.machineId);
    if (!m) return;
    const deadline = toMonoDeadline(this.#clock, req.deadline);
    this.#deadlines.set(req.sessionId, deadline);
    // The reader forgets a session long after its deadline; so does this map.
    setTimeout(
      () => this.#deadlines.delete(req.sessionId),
      Math.max(0, deadline - this.#clock.monoMs()) + 60_000,
    ).unref();
    const now = this.#o.now();
    this.#o.db.transaction(() =>
      this.#insert.run(
        req.sessionId,
        req.machineId,
        req.item,
        req.price.amount,
        req.price.currency,
        req.deadline,
        now,
        now,
      ),
    )();
    if (!this.#o.link.connected) {
      await this.#deny(m, req, ErrorCode.BrokerUnreachable, 'the platform is unreachable', 'offline');
      return;
    }
    const spec = RequestSchemas['order.create'];
    let created: ReturnType<typeof spec.response.parse>;
    try {
      const timeout = Math.max(1, Math.min(this.#o.createTimeoutMs, deadline - this.#clock.monoMs()));
      const res = await this.#o.link.request(
        'order.create',
        spec.request.parse({
          sessionId: req.sessionId,
          machineId: req.machineId,
          slot: req.item,
          price: req.price,
          deadline: req.deadline,
        }),
        timeout,
      );
      created = spec.response.parse(res);
    } catch (err) {
      this.#o.log.warn(
        { sessionId: req.sessionId, err: (err as Error).message },
        'the platform did not create an order',
      );
      await this.#deny(
        m,
        req,
        ErrorCode.CashlessOrderNotCreated,
        `no order: ${(err as Error).message}`,
        'payment-failed',
      );
      return;
    }
    const linked = this.#o.db.transaction(() => this.#assignOrder(created.orderId, req.sessionId))();
    const row = this.#byId.get(req.sessionId)!;
    if (linked === 0) {
      // Either the payment overtook this answer and already linked the order
      // (nothing more to do), or the session ended while the order was being
      // created: close that order.
      if (row.order_id !== created.orderId) {
        this.#close(
          { ...row, order_id: created.orderId },
          ErrorCode.CashlessSessionClosed,
          'the session ended before the order existed',
        );
      }
      return;
    }
    await this.#o.display.show(m.displayId, {
      kind: 'awaiting-payment',
      orderId: created.orderId,
      paymentUrl: created.paymentUrl,
      price: req.price,
      deadline: req.deadline,
      providers: created.providers,
      item: this.#item(m, req.item),
    });
  }

  #onVendResult(res: CashlessVendResult): void {
    const row = this.#byId.get(res.sessionId);
    const m = this.#o.machines.get(res.machineId);
    if (!row || !m || !row.order_id) return;
    const order = this.#o.ledger.get(row.order_id);
    if (!order || order.vendToken === null) return;
    this.#o.db.transaction(() => {
      this.#o.ledger.recordOutcome(
        row.order_id!,
        res.ok
          ? { kind: 'dispensed', vendToken: order.vendToken!, slot: row.item }
          : {
              kind: 'failed',
              vendToken: order.vendToken!,
              slot: row.item,
              reason: 'other',
              detail: res.detail ?? res.reason,
            },
      );
      this.#move.run(
        'closed',
        res.ok ? 'dispensed' : 'vend-failed',
        this.#o.now(),
        row.session_id,
        'approved',
      );
    })();
    this.#o.link.notify();
    const item = this.#item(m, row.item);
    this.#showResult(
      m,
      res.ok ? { kind: 'done', item } : { kind: 'failed', refund: order.price, reason: 'other', item },
    );
  }

  #onCancelled(ev: CashlessSessionCancelled): void {
    const row = this.#byId.get(ev.sessionId);
    const m = this.#o.machines.get(ev.machineId);
    if (!row || !m) return;
    if (row.state === 'approved') {
      // Approved, then the session ended without a result (link lost): the
      // machine may or may not have vended, and MDB cannot be asked later.
      this.#o.db.transaction(() => {
        this.#move.run('closed', 'unresolved', this.#o.now(), row.session_id, 'approved');
        if (row.order_id)
          this.#o.ledger.markUnresolved(row.order_id, `session ended after approval: ${ev.reason}`);
      })();
      this.#o.link.notify();
      return;
    }
    if (row.state === 'closed') return;
    this.#close(
      row,
      ErrorCode.CashlessSessionClosed,
      `vend session ended: ${ev.reason}${ev.detail ? ` (${ev.detail})` : ''}`,
    );
    this.#showResult(m, {
      kind: 'failed',
      refund: { amount: 0, currency: row.currency },
      reason: ev.reason === 'timeout' ? 'timeout' : 'other',
      item: this.#item(m, row.item),
    });
  }

  async #deny(
    m: CashlessMachine,
    req: CashlessVendRequest,
    code: ErrorCodeValue,
    reason: string,
    shown: string,
  ) {
    this.#close(this.#byId.get(req.sessionId)!, code, reason);
    await m.reader.deny(req.sessionId, reason).catch(() => {});
    this.#showResult(m, {
      kind: 'failed',
      refund: { amount: 0, currency: req.price.currency },
      reason: shown,
      item: this.#item(m, req.item),
    });
  }

  /** Ends a session that was never approved; asks the platform to close its order, once. */
  #close(row: SessionRow, code: ErrorCodeValue, reason: string): void {
    const changed = this.#o.db.transaction(() => {
      const n = this.#move.run('closed', 'closed', this.#o.now(), row.session_id, row.state).changes;
      if (n === 1 && row.order_id && !this.#o.ledger.get(row.order_id)) {
        this.#o.outbox.append('order.close_requested', {
          orderId: row.order_id,
          machineId: row.machine_id,
          code,
          reason,
        });
      }
      return n;
    })();
    if (changed) this.#o.link.notify();
  }

  #showResult(m: CashlessMachine, screen: DisplayScreen): void {
    void this.#o.display.show(m.displayId, screen).catch(() => {});
    const prev = this.#idleTimers.get(m.displayId);
    if (prev) clearTimeout(prev);
    if (!m.idle) return;
    const idle = m.idle;
    const t = setTimeout(() => {
      this.#idleTimers.delete(m.displayId);
      if (!m.reader.session) void this.#o.display.show(m.displayId, idle).catch(() => {});
    }, this.#o.resultScreenMs);
    t.unref();
    this.#idleTimers.set(m.displayId, t);
  }

  #item(m: CashlessMachine, item: number): DisplayItem {
    return { name: m.itemNames.get(item) ?? `#${item}`, slot: item };
  }

  #guard(fn: () => void, machineId: string): void {
    try {
      fn();
    } catch (err) {
      this.#bug(err, machineId);
    }
  }

  #bug(err: unknown, machineId: string): void {
    this.#o.log.error({ err, machineId }, 'cashless flow failed; the session is left for recovery');
  }
}
