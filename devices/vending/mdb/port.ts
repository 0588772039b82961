/**
 * The domain port the gateway core uses for select-then-pay (select first, then pay): the gateway acts as the machine's cashless device. No wire formats
 * here; MdbCashlessDriver (driver.ts) implements it over an MDB adapter.
 *
 * Life of a session: the customer presses a button, the machine asks for
 * approval ('vend-request' with a deadline). The gateway answers once with
 * approve() or deny(). After an approval the machine dispenses and reports
 * ('vend-result'). A session that is not answered by its deadline is denied
 * by the reader itself ('session-cancelled', reason 'timeout'): a session is
 * never left hanging. Exactly one of 'vend-result' or 'session-cancelled'
 * ends every session.
 */
import type { EventEmitter } from 'node:events';
import type { Money } from '../../../core/money.ts';

export interface CashlessVendRequest {
  /** Unique per session (a UUID); names the session in approve()/deny() and in the events that end it. */
  sessionId: string;
  machineId: string;
  /** The machine's item (selection) number. */
  item: number;
  /** The price the machine asks for, in integer minor units. */
  price: Money;
  /** Epoch ms when the request arrived. */
  receivedAt: number;
  /** Epoch ms: approve() or deny() before this, or the reader denies the vend itself. */
  deadline: number;
  /**
   * Authorization first: the request arrived inside a session begun with
   * these funds (beginSession); approve at most this. Absent for select-then-pay.
   */
  credit?: Money;
}

export interface CashlessVendResult {
  sessionId: string;
  machineId: string;
  item: number;
  /** True only when the machine reported the product dispensed. */
  ok: boolean;
  /** The amount approved, minor units. */
  amount: Money;
  /** Why it failed: 'vend-failed' (the machine said so), 'link-lost', 'result-timeout', 'session-ended', 'superseded'. */
  reason?: string;
  /** The machine's own failure text, when it gave one. */
  detail?: string;
}

/** Why a session ended without an approved vend. */
export type CashlessCancelReason =
  /** Not answered before the deadline; the reader denied it. */
  | 'timeout'
  /** deny() was called; `detail` carries the caller's reason. */
  | 'denied'
  /** The machine ended the request itself (customer cancelled, machine's own timeout). */
  | 'machine-cancelled'
  /** The link to the adapter was lost. */
  | 'link-lost'
  /** A second vend request arrived while this session was open; both were denied. */
  | 'protocol-error';

export interface CashlessSessionCancelled {
  sessionId: string;
  machineId: string;
  item: number;
  reason: CashlessCancelReason;
  detail?: string;
}

export interface CashlessAdapterError {
  /** A vendgate error code (6xxx). */
  code: number;
  text: string;
  sessionId?: string;
}

export interface CashlessReaderEvents {
  'vend-request': [req: CashlessVendRequest];
  'vend-result': [res: CashlessVendResult];
  'session-cancelled': [ev: CashlessSessionCancelled];
  'adapter-error': [err: CashlessAdapterError];
  /** The adapter answers and the reader is configured. */
  online: [];
  offline: [reason: string];
}

/** 'funded': authorization first, a session with funds waiting for the customer's selection. */
export type CashlessSessionState = 'funded' | 'requested' | 'approving' | 'approved';

export interface CashlessSessionInfo {
  sessionId: string;
  item: number;
  price: Money;
  deadline: number;
  state: CashlessSessionState;
  /** Authorization first: the session's funds. */
  funds?: Money;
}

export interface CashlessReader extends EventEmitter<CashlessReaderEvents> {
  readonly machineId: string;
  readonly online: boolean;
  /** The open session, if any (one at a time). */
  readonly session: CashlessSessionInfo | null;
  /** Opens the link, configures and enables the reader. Resolves once the port was tried (not necessarily online). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Approves the open session for `amount` minor units (at most its price).
   * Resolves once the adapter accepted the approval; the outcome follows as
   * 'vend-result'. Rejects with a VendgateError (CashlessSessionUnknown,
   * CashlessPriceInvalid, CashlessCommandRefused, DeviceTimeout,
   * DeviceOffline) when the vend was not approved.
   */
  approve(sessionId: string, amount: number): Promise<void>;
  /**
   * Denies the open session's vend request. Resolves once the session is
   * closed ('session-cancelled' emitted); inside a session with funds only
   * the request is denied (`C,VEND,-1`) and the session stays open.
   */
  deny(sessionId: string, reason?: string): Promise<void>;
  /**
   * Authorization first ("credit from card", docs/protocols/mdb-adapter.md
   * section 7.5): begins a session with `funds` minor units before any
   * selection. The machine's vend requests then carry `credit`; one approved
   * vend ends the session, as do endSession(), the customer cancelling on
   * the machine and `idleMs` without a selection ('session-cancelled'
   * 'timeout'). Resolves once the adapter accepted `C,START`. Rejects when
   * it refused (the session is then over, 'session-cancelled' 'denied'), or
   * with DeviceTimeout when it did not answer: the session then stays open,
   * since the adapter may have begun it, and ends by the rules above.
   */
  beginSession(sessionId: string, funds: number, opts: { idleMs: number }): Promise<void>;
  /** Ends a session with funds that has no approved vend (`C,STOP`); 'session-cancelled' 'denied' follows. */
  endSession(sessionId: string, reason?: string): Promise<void>;
  /** Lets the machine take cashless vends (the default after start()). */
  enable(): Promise<void>;
  /** Stops taking cashless vends (e.g. while the platform is unreachable). */
  disable(): Promise<void>;
}
