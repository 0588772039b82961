import type { Statement } from 'better-sqlite3';
import type { CommandData } from '../../contract/commands.ts';
import type { OrderState } from '../../contract/events.ts';
import { ErrorCode, type ErrorCodeValue, isVendgateError } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import type { Money } from '../../core/money.ts';
import type { DisplayItem, DisplayScreen, PaymentDisplay } from '../../devices/display/port.ts';
import type {
  CashlessReader,
  CashlessSessionCancelled,
  CashlessVendRequest,
  CashlessVendResult,
} from '../../devices/vending/mdb/port.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { Db } from '../store/db.ts';
import { inTx } from '../store/tx.ts';

export interface PayFirstMachine {
  reader: CashlessReader;
  displayId: string;
  /** Product names by item number, for the display. */
  itemNames: ReadonlyMap<number, string>;
  /** The machine's currency: a credit in another one is refunded. */
  currency: string;
  /** How long a begun session waits for a selection, ms. */
  idleMs: number;
  /** Shown when nothing else is (scan, pay, then choose); none = keep the last screen. */
  idle?: DisplayScreen;
}

export interface PayFirstFlowOptions {
  db: Db;
  outbox: Outbox;
  /** Wakes the link to publish what was queued outside a command's transaction. */
  link: { notify(): void };
  display: PaymentDisplay;
  machines: ReadonlyMap<string, PayFirstMachine>;
  log: Log;
  /** How long done / failed screens stay before the idle screen returns. */
  resultScreenMs?: number;
  /** Wall time for the timestamps recorded and the credit's expiry. */
  now?: () => number;
}

type CreditState = 'received' | 'started' | 'approved' | 'closed';

interface CreditRow {
  order_id: string;
  session_id: string;
  machine_id: string;
  credit: number;
  currency: string;
  provider: string;
  expires_at: number;
  state: CreditState;
  item: number | null;
  approved: number | null;
  refund: number | null;
  outcome: string | null;
  created_at: number;
  updated_at: number;
}

/** The order states of the contract, for `order.state` answers to a redelivered credit. */
function orderStateOf(row: CreditRow): OrderState {
  switch (row.state) {
    case 'received':
    case 'started':
      return 'received';
    case 'approved':
      return 'dispensing';
    case 'closed':
      return row.outcome === 'dispensed'
        ? 'dispensed'
        : row.outcome === 'unresolved'
          ? 'unresolved'
          : 'refund_requested';
  }
}

/** MDB item numbers are 16-bit, contract slots 1..255: a selection outside that cannot be reported. */
const MAX_REPORTABLE_ITEM = 255;

/**
 * Pay first, then choose, on an MDB machine (authorization first, "credit
 * from card"; docs/protocols/mdb-adapter.md section 7.5). The customer paid
 * a credit on the platform's phone page; the signed `credit.paid` arrives
 * here. The gateway, as the machine's cashless device, begins one session
 * with those funds, approves the customer's selection up to the credit
 * (a dearer one is denied and the customer may choose again), and ends the
 * order exactly once: the vended price `vend.succeeded` and the unspent rest
 * `refund.requested`; a failure, cancel or timeout refunds the whole credit.
 *
 * Exactly once, as for remote vend: each step is committed to
 * `credit_sessions` before the adapter is told of it ('started' before
 * `C,START`, 'approved' before `C,VEND`), and every move is a guarded
 * UPDATE from the state it was read in. After a restart a credit that was
 * never approved is refunded (the adapter is reconfigured from `C,0`, which
 * ends any session it held), and one that was approved is never approved
 * again: MDB keeps no vend history to ask, so it is reported for
 * reconciliation (`order.unresolved`).
 */
export class PayFirstFlow {
  readonly #o: Required<Omit<PayFirstFlowOptions, 'now'>> & { now: () => number };
  readonly #byOrder: Statement<[string], CreditRow>;
  readonly #bySession: Statement<[string], CreditRow>;
  readonly #openOnMachine: Statement<[string], CreditRow>;
  readonly #insert: Statement<unknown[]>;
  readonly #move: Statement<[CreditState, number, string, CreditState]>;
  readonly #approve: Statement<[number, number, number, string]>;
  readonly #unapprove: Statement<[number, string]>;
  readonly #close: Statement<[string, number | null, number, string, CreditState]>;
  readonly #idleTimers = new Map<string, NodeJS.Timeout>();

  constructor(opts: PayFirstFlowOptions) {
    this.#o = { resultScreenMs: 6_000, now: Date.now, ...opts };
    const db = opts.db;
    this.#byOrder = db.prepare('SELECT * FROM credit_sessions WHERE order_id = ?');
    this.#bySession = db.prepare('SELECT * FROM credit_sessions WHERE session_id = ?');
    this.#openOnMachine = db.prepare(
      "SELECT * FROM credit_sessions WHERE machine_id = ? AND state <> 'closed' LIMIT 1",
    );
    this.#insert = db.prepare(
      `INSERT INTO credit_sessions (order_id, session_id, machine_id, credit, currency, provider, expires_at,
         state, refund, outcome, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#move = db.prepare(
      'UPDATE credit_sessions SET state = ?, updated_at = ? WHERE order_id = ? AND state = ?',
    );
    this.#approve = db.prepare(
      "UPDATE credit_sessions SET state = 'approved', item = ?, approved = ?, updated_at = ? WHERE order_id = ? AND state = 'started'",
    );
    this.#unapprove = db.prepare(
      "UPDATE credit_sessions SET state = 'started', item = NULL, approved = NULL, updated_at = ? WHERE order_id = ? AND state = 'approved'",
    );
    this.#close = db.prepare(
      "UPDATE credit_sessions SET state = 'closed', outcome = ?, refund = ?, updated_at = ? WHERE order_id = ? AND state = ?",
    );
    for (const [machineId, m] of opts.machines) {
      m.reader.on('vend-request', (req) => this.#guard(() => this.#onVendRequest(req), machineId));
      m.reader.on('vend-result', (res) => this.#guard(() => this.#onVendResult(res), machineId));
      m.reader.on('session-cancelled', (ev) => this.#guard(() => this.#onCancelled(ev), machineId));
    }
  }

  /** True for a machine this flow runs (a pay-first MDB machine). */
  owns(machineId: string): boolean {
    return this.#o.machines.has(machineId);
  }

  /**
   * A signed `credit.paid`. Synchronous: it runs inside the link's command
   * transaction, so the credit is recorded with the command; the session is
   * begun afterwards. A credit that cannot be used is recorded and refunded
   * at once; a second copy of one already recorded is answered with its state.
   */
  onCredit(paid: CommandData<'credit.paid'>): void {
    const { db, outbox, log } = this.#o;
    inTx(db, () => {
      const existing = this.#byOrder.get(paid.orderId);
      if (existing) {
        outbox.append('order.state', {
          orderId: paid.orderId,
          state: orderStateOf(existing),
          duplicate: true,
        });
        log.info(
          { orderId: paid.orderId, state: existing.state },
          'credit redelivered; answered with its state',
        );
        return;
      }
      const refusal = this.#validate(paid);
      const now = this.#o.now();
      const sessionId = `pf-${paid.orderId}`;
      this.#insert.run(
        paid.orderId,
        sessionId,
        paid.machineId,
        paid.credit.amount,
        paid.credit.currency,
        paid.provider,
        paid.expiresAt,
        refusal ? 'closed' : 'received',
        refusal ? paid.credit.amount : null,
        refusal ? 'refused' : null,
        now,
        now,
      );
      if (refusal) {
        outbox.append('refund.requested', {
          orderId: paid.orderId,
          refund: paid.credit,
          code: refusal.code,
          reason: refusal.reason,
        });
        log.warn({ orderId: paid.orderId, code: refusal.code }, `credit refused: ${refusal.reason}`);
        return;
      }
      outbox.append('credit.accepted', {
        orderId: paid.orderId,
        machineId: paid.machineId,
        credit: paid.credit,
        expiresAt: paid.expiresAt,
      });
      log.info({ orderId: paid.orderId, machineId: paid.machineId, credit: paid.credit }, 'credit accepted');
      // After the command's transaction committed: the session is begun from the committed row.
      queueMicrotask(() => this.#guard(() => this.#begin(paid.orderId), paid.machineId));
    });
  }

  /** A redelivered `credit.paid`: answers with the credit's state; false when it is not recorded. */
  reportState(orderId: string): boolean {
    const row = this.#byOrder.get(orderId);
    if (!row) return false;
    inTx(this.#o.db, () =>
      this.#o.outbox.append('order.state', { orderId, state: orderStateOf(row), duplicate: true }),
    );
    return true;
  }

  /**
   * After a restart. A credit never approved is refunded: the reader is
   * configured again from `C,0`, which takes it off the bus and ends any
   * session the machine held, so nothing can be vended on it. An approved
   * one is never approved again and cannot be asked about: reconciliation.
   */
  recover(): { refunded: number; unresolved: number } {
    const rows = this.#o.db
      .prepare("SELECT * FROM credit_sessions WHERE state <> 'closed'")
      .all() as CreditRow[];
    let refunded = 0;
    let unresolved = 0;
    for (const row of rows) {
      if (row.state === 'approved') {
        this.#unresolved(row, 'the gateway restarted between the approval and the vend result');
        unresolved++;
      } else {
        this.#refundAll(
          row,
          ErrorCode.PayFirstSessionEnded,
          'the gateway restarted before the customer chose; no product was approved',
        );
        refunded++;
      }
    }
    this.#o.link.notify();
    return { refunded, unresolved };
  }

  stop(): void {
    for (const t of this.#idleTimers.values()) clearTimeout(t);
    this.#idleTimers.clear();
  }

  #validate(paid: CommandData<'credit.paid'>): { code: ErrorCodeValue; reason: string } | undefined {
    const m = this.#o.machines.get(paid.machineId);
    if (!m) {
      return {
        code: ErrorCode.PayFirstCreditInvalid,
        reason: `machine "${paid.machineId}" is not a pay-first machine on this gateway`,
      };
    }
    if (paid.credit.currency !== m.currency) {
      return {
        code: ErrorCode.PayFirstCreditInvalid,
        reason: `credit in ${paid.credit.currency} but machine "${paid.machineId}" sells in ${m.currency}`,
      };
    }
    if (paid.credit.amount <= 0) {
      return { code: ErrorCode.PayFirstCreditInvalid, reason: 'a credit must be more than zero' };
    }
    if (paid.expiresAt <= this.#o.now()) {
      return { code: ErrorCode.OrderExpired, reason: 'the credit arrived after its expiry' };
    }
    const open = this.#openOnMachine.get(paid.machineId);
    if (open) {
      return {
        code: ErrorCode.PayFirstNotStarted,
        reason: `machine "${paid.machineId}" is serving another customer's credit (${open.order_id})`,
      };
    }
    return undefined;
  }

  /** Begins the session with the funds: 'started' is committed before `C,START` goes out. */
  #begin(orderId: string): void {
    const row = this.#byOrder.get(orderId);
    if (row?.state !== 'received') return;
    const m = this.#o.machines.get(row.machine_id)!;
    if (row.expires_at <= this.#o.now()) {
      this.#refundAll(row, ErrorCode.OrderExpired, 'the credit expired before the session could begin');
      return;
    }
    if (inTx(this.#o.db, () => this.#move.run('started', this.#o.now(), orderId, 'received').changes) !== 1)
      return;
    const credit: Money = { amount: row.credit, currency: row.currency };
    this.#show(m, { kind: 'choose-on-machine', credit });
    m.reader.beginSession(row.session_id, row.credit, { idleMs: m.idleMs }).then(
      () => this.#o.log.info({ orderId, sessionId: row.session_id }, 'session with funds begun'),
      (err: Error) => {
        // No reply: the adapter may have begun it; the reader keeps it to its idle time and its end decides.
        if (isVendgateError(err, ErrorCode.DeviceTimeout)) {
          this.#o.log.warn({ orderId }, 'no reply to the session start; waiting for the session to end');
          return;
        }
        // Refused or never sent: nothing can vend on it.
        this.#o.log.warn({ orderId, err: err.message }, 'the machine did not begin the session');
        this.#guard(() => {
          const now = this.#byOrder.get(orderId);
          if (now?.state === 'started')
            this.#refundAll(
              now,
              ErrorCode.PayFirstNotStarted,
              `the machine did not begin the session: ${err.message}`,
            );
        }, row.machine_id);
        this.#showResult(m, { kind: 'failed', refund: credit, reason: 'other' });
      },
    );
  }

  #onVendRequest(req: CashlessVendRequest): void {
    const m = this.#o.machines.get(req.machineId);
    if (!m) return;
    const row = req.credit ? this.#bySession.get(req.sessionId) : undefined;
    if (row?.state !== 'started') {
      // A selection without a paid credit: this machine sells pay first.
      this.#o.log.info({ sessionId: req.sessionId, item: req.item }, 'selection without a credit; denied');
      void m.reader.deny(req.sessionId, 'no paid credit: scan and pay first').catch(() => {});
      if (!req.credit && m.idle) this.#showResult(m, m.idle);
      return;
    }
    const credit: Money = { amount: row.credit, currency: row.currency };
    const item = this.#item(m, req.item);
    const refuse = (reason: string) => {
      this.#o.log.info(
        {
          orderId: row.order_id,
          item: req.item,
          price: req.price,
          credit,
          code: ErrorCode.PayFirstAboveCredit,
        },
        `selection denied: ${reason}`,
      );
      void m.reader.deny(req.sessionId, reason).catch(() => {});
      this.#show(m, { kind: 'choose-on-machine', credit, denied: item });
    };
    if (req.price.currency !== row.currency) {
      refuse(`priced in ${req.price.currency}, the credit is in ${row.currency}`);
      return;
    }
    if (req.price.amount > row.credit) {
      refuse(`item ${req.item} costs ${req.price.amount}, more than the credit of ${row.credit}`);
      return;
    }
    if (req.item < 1 || req.item > MAX_REPORTABLE_ITEM) {
      refuse(`item ${req.item} is outside 1..${MAX_REPORTABLE_ITEM} and cannot be reported`);
      return;
    }
    // The approval intent, committed before C,VEND reaches the machine.
    const price = req.price.amount;
    if (inTx(this.#o.db, () => this.#approve.run(req.item, price, this.#o.now(), row.order_id).changes) !== 1)
      return;
    this.#show(m, { kind: 'dispensing', item });
    m.reader.approve(req.sessionId, price).catch((err: Error) => {
      // No reply: the approval may have reached the machine; the reader ends the session
      // with a result (or a result timeout), which decides.
      if (isVendgateError(err, ErrorCode.DeviceTimeout)) return;
      // Refused or never sent: nothing was approved. The customer may choose again.
      this.#o.log.warn(
        { orderId: row.order_id, err: err.message },
        'approval not taken; the session goes on',
      );
      this.#guard(() => {
        inTx(this.#o.db, () => this.#unapprove.run(this.#o.now(), row.order_id));
        void m.reader.deny(req.sessionId, `approval not taken: ${err.message}`).catch(() => {});
        this.#show(m, { kind: 'choose-on-machine', credit });
      }, row.machine_id);
    });
  }

  #onVendResult(res: CashlessVendResult): void {
    const row = this.#bySession.get(res.sessionId);
    const m = this.#o.machines.get(res.machineId);
    if (!row || !m || row.state !== 'approved') return;
    const approved = row.approved ?? 0;
    const item = this.#item(m, row.item ?? 0);
    const credit: Money = { amount: row.credit, currency: row.currency };
    if (res.ok) {
      const rest = row.credit - approved;
      const closed = inTx(this.#o.db, () => {
        if (this.#close.run('dispensed', rest, this.#o.now(), row.order_id, 'approved').changes !== 1)
          return false;
        this.#o.outbox.append('vend.succeeded', {
          orderId: row.order_id,
          machineId: row.machine_id,
          slot: row.item!,
          price: { amount: approved, currency: row.currency },
        });
        if (rest > 0) {
          this.#o.outbox.append('refund.requested', {
            orderId: row.order_id,
            refund: { amount: rest, currency: row.currency },
            code: ErrorCode.PayFirstCreditUnspent,
            reason: `credit ${row.credit}, vended ${approved}: the unspent ${rest} is refunded`,
          });
        }
        return true;
      });
      if (!closed) return;
      this.#o.link.notify();
      this.#o.log.info(
        { orderId: row.order_id, item: row.item, approved, refund: rest },
        'pay-first vend done',
      );
      this.#showResult(m, { kind: 'done', item });
      return;
    }
    if (res.reason === 'vend-failed') {
      // The machine said it did not dispense: the whole credit goes back.
      const closed = inTx(this.#o.db, () => {
        if (this.#close.run('vend-failed', row.credit, this.#o.now(), row.order_id, 'approved').changes !== 1)
          return false;
        const reason = `the machine reported the vend failed${res.detail ? ` (${res.detail})` : ''}`;
        this.#o.outbox.append('vend.failed', {
          orderId: row.order_id,
          machineId: row.machine_id,
          slot: row.item!,
          price: { amount: approved, currency: row.currency },
          code: ErrorCode.VendFailed,
          reason,
        });
        this.#o.outbox.append('refund.requested', {
          orderId: row.order_id,
          refund: credit,
          code: ErrorCode.VendFailed,
          reason: `${reason}; the whole credit of ${row.credit} is refunded`,
        });
        return true;
      });
      if (!closed) return;
      this.#o.link.notify();
      this.#showResult(m, { kind: 'failed', refund: credit, reason: 'other', item });
      return;
    }
    // Approved, then no word from the machine (link lost, result timeout, the
    // session ended without a result): it may or may not have vended.
    this.#unresolved(
      row,
      `no vend result after the approval: ${res.reason ?? 'unknown'}${res.detail ? ` (${res.detail})` : ''}`,
    );
  }

  #onCancelled(ev: CashlessSessionCancelled): void {
    const row = this.#bySession.get(ev.sessionId);
    const m = this.#o.machines.get(ev.machineId);
    if (!row || !m || row.state === 'closed' || row.state === 'received') return;
    // 'session-cancelled' only ends a session whose vend was never approved
    // (an approved one ends with a vend result), so nothing was vended.
    const why =
      ev.reason === 'machine-cancelled'
        ? 'the customer cancelled on the machine'
        : ev.reason === 'timeout'
          ? 'no selection before the session timed out'
          : `the session ended: ${ev.reason}${ev.detail ? ` (${ev.detail})` : ''}`;
    this.#refundAll(row, ErrorCode.PayFirstSessionEnded, `${why}; no product was vended`);
    this.#showResult(m, {
      kind: 'failed',
      refund: { amount: row.credit, currency: row.currency },
      reason: ev.reason === 'timeout' ? 'timeout' : 'other',
    });
  }

  /** Closes a credit that was never approved and refunds all of it, once. */
  #refundAll(row: CreditRow, code: ErrorCodeValue, reason: string): void {
    const closed = inTx(this.#o.db, () => {
      if (this.#close.run('refunded', row.credit, this.#o.now(), row.order_id, row.state).changes !== 1)
        return false;
      this.#o.outbox.append('refund.requested', {
        orderId: row.order_id,
        refund: { amount: row.credit, currency: row.currency },
        code,
        reason,
      });
      return true;
    });
    if (closed) {
      this.#o.log.info({ orderId: row.order_id, code, refund: row.credit }, `credit refunded: ${reason}`);
      this.#o.link.notify();
    }
  }

  /** An approved credit whose vend cannot be known: reported for reconciliation, never approved again. */
  #unresolved(row: CreditRow, reason: string): void {
    const closed = inTx(this.#o.db, () => {
      if (this.#close.run('unresolved', null, this.#o.now(), row.order_id, 'approved').changes !== 1)
        return false;
      this.#o.outbox.append('order.unresolved', {
        orderId: row.order_id,
        machineId: row.machine_id,
        slot: row.item!,
        price: { amount: row.approved ?? 0, currency: row.currency },
        vendToken: 0,
        code: ErrorCode.OrderUnresolved,
        reason: `${reason}; credit ${row.credit}, approved ${row.approved ?? 0}`,
      });
      return true;
    });
    if (closed) {
      this.#o.log.warn(
        { orderId: row.order_id, reason },
        'pay-first vend unresolved; reported for reconciliation',
      );
      this.#o.link.notify();
    }
  }

  #show(m: PayFirstMachine, screen: DisplayScreen): void {
    const prev = this.#idleTimers.get(m.displayId);
    if (prev) clearTimeout(prev);
    this.#idleTimers.delete(m.displayId);
    void this.#o.display.show(m.displayId, screen).catch(() => {});
  }

  #showResult(m: PayFirstMachine, screen: DisplayScreen): void {
    this.#show(m, screen);
    if (!m.idle || screen === m.idle) return;
    const idle = m.idle;
    const t = setTimeout(() => {
      this.#idleTimers.delete(m.displayId);
      if (!m.reader.session) void this.#o.display.show(m.displayId, idle).catch(() => {});
    }, this.#o.resultScreenMs);
    t.unref();
    this.#idleTimers.set(m.displayId, t);
  }

  #item(m: PayFirstMachine, item: number): DisplayItem {
    return {
      name: m.itemNames.get(item) ?? `#${item}`,
      ...(item >= 1 && item <= MAX_REPORTABLE_ITEM ? { slot: item } : {}),
    };
  }

  #guard(fn: () => void, machineId: string): void {
    try {
      fn();
    } catch (err) {
      this.#o.log.error({ err, machineId }, 'pay-first flow failed; the credit is left for recovery');
    }
  }
}
