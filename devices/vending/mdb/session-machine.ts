/**
 * The cashless session state machine (docs/protocols/mdb-adapter.md,
 * section 7), pure: `(state, input) -> { state, effects }`, no I/O, no
 * timers, no clock, no randomness. The driver feeds it adapter lines and
 * host calls, with the session id and the time in the input, and performs
 * the effects (events, `C,VEND` / `C,STOP`, the one session timer, counters,
 * logs). Modelled on a transition function returning a new state and
 * effects, so every rule below is testable without a port.
 *
 * - One session at a time (section 7.4): a vend request while one is open
 *   is a protocol error; both are ended and the machine is told `C,STOP`.
 * - Only the open session, while 'requested', can be approved, for at most
 *   its price in whole MDB price units; the approval goes out once.
 * - A session not answered by its deadline (receipt + the machine's maximum
 *   response time, less a margin so our `C,STOP` arrives in time) is denied.
 * - After an approval the machine's result must follow within
 *   `vendResultTimeoutMs`.
 * - Every session ends with exactly one 'vend-result' or 'session-cancelled'.
 * - Authorization first (section 7.5): begin() opens a session with funds
 *   (`C,START,<funds>`) before any selection. The machine's vend requests
 *   then arrive inside it; deny() answers one with `C,VEND,-1` and the
 *   session stays open for another choice; a session with no request for
 *   its idle time is ended with `C,STOP`. One approved vend ends it.
 */
import { ErrorCode, type ErrorCodeValue, VendgateError } from '../../../core/errors.ts';
import { deviceOfflineError } from '../request-queue.ts';
import { type MdbMoneyConfig, mdbAmountToMinor, minorToMdbAmount } from './money.ts';
import type {
  CashlessAdapterError,
  CashlessCancelReason,
  CashlessSessionCancelled,
  CashlessSessionState,
  CashlessVendRequest,
  CashlessVendResult,
} from './port.ts';

export interface SessionMachineConfig {
  machineId: string;
  money: MdbMoneyConfig;
  /** The machine's wait for approval (SETCONF mdb-max-response-time), seconds. */
  maxResponseTimeSec: number;
  /** Our deadline is this much before the machine's, capped at half the window. */
  deadlineMarginMs: number;
  vendResultTimeoutMs: number;
  /** While an approval awaits its reply at the deadline, look again after this long. */
  replyTimeoutMs: number;
}

export interface Session {
  readonly id: string;
  readonly item: number;
  /** Minor units. */
  readonly price: number;
  readonly receivedAt: number;
  readonly deadline: number;
  readonly state: CashlessSessionState;
  /** The amount approved, minor units (0 until approved). */
  readonly amount: number;
  /** Authorization first: the funds the session was begun with, minor units; null for select-then-pay. */
  readonly funds: number | null;
  /** Authorization first: how long the session may wait for a selection, ms. */
  readonly idleMs: number;
  /**
   * Authorization first: the adapter has answered `C,START` (or its reply
   * timed out). Until then a reader status predates the session: the adapter
   * answers C,START before it reports any state of the session (section 7.5).
   * Always true for select-then-pay.
   */
  readonly startAnswered: boolean;
}

export interface SessionMachineState {
  readonly session: Session | null;
  /** The last reader state the adapter reported (`c,STATUS,...`). */
  readonly readerState: string | null;
}

export const initialSessionState: SessionMachineState = { session: null, readerState: null };

export type SessionInput =
  // adapter -> host (section 4)
  | { type: 'vend-request'; sessionId: string; price: string; item: number; now: number }
  | { type: 'status'; state: string }
  | { type: 'vend-success'; item?: number | undefined }
  | { type: 'vend-fail'; item?: number | undefined; reason?: string | undefined }
  | { type: 'adapter-error'; text: string }
  // host calls and their replies
  | { type: 'approve'; sessionId: string; amount: number; ready: boolean }
  | { type: 'approve-acked'; sessionId: string }
  | { type: 'approve-refused'; sessionId: string; amount: number; reason?: string | undefined }
  /** No reply (timeout, link lost): the approval may have reached the machine. */
  | { type: 'approve-unanswered'; sessionId: string }
  | { type: 'deny'; sessionId: string; reason: string }
  /** Authorization first: open a session with `funds` minor units (`C,START`). */
  | { type: 'begin'; sessionId: string; funds: number; idleMs: number; now: number; ready: boolean }
  | { type: 'begin-refused'; sessionId: string; reason?: string | undefined }
  /** The adapter acknowledged `C,START`: the reader's statuses from now on are the session's. */
  | { type: 'begin-acked'; sessionId: string }
  /**
   * No reply to `C,START`: the adapter may have begun the session. It stays
   * open as funded, so the customer's selection still works, and its idle
   * timer ends it with `C,STOP` if none comes.
   */
  | { type: 'begin-unanswered'; sessionId: string }
  /** Authorization first: end a session with funds that has no approved vend (`C,STOP`). */
  | { type: 'end'; sessionId: string; reason: string }
  // the session timer, the link
  | { type: 'deadline'; sessionId: string }
  | { type: 'link-lost'; reason: string }
  /** The driver stops; `canSend`: the port is still open for a last `C,STOP`. */
  | { type: 'stop'; canSend: boolean };

export type SessionCounter = 'sessions' | 'approved' | 'denied' | 'timeouts' | 'protocolErrors';

export type SessionEffect =
  | { type: 'vend-request'; event: CashlessVendRequest }
  | { type: 'vend-result'; event: CashlessVendResult }
  | { type: 'session-cancelled'; event: CashlessSessionCancelled }
  | { type: 'adapter-error'; error: CashlessAdapterError }
  /** `C,VEND,<amount>` through the command queue; its reply comes back as approve-acked / -refused / -unanswered. */
  | { type: 'send-approve'; sessionId: string; amount: string }
  /** `C,STOP` through the command queue. */
  | { type: 'send-stop' }
  /** `C,START,<funds>` through the command queue; its reply comes back as begin-refused / -unanswered, or nothing. */
  | { type: 'send-begin'; sessionId: string; funds: string }
  /** `C,VEND,-1` through the command queue: deny the one request, keep the session. */
  | { type: 'send-deny-vend' }
  /** `C,STOP` written at once, outside the queue (the driver is stopping). */
  | { type: 'write-stop' }
  /** (Re)arms the one session timer; when it fires, feed `{ type: 'deadline', sessionId }`. */
  | { type: 'set-timer'; sessionId: string; ms: number }
  | { type: 'clear-timer' }
  | { type: 'count'; counter: SessionCounter }
  | { type: 'log'; level: 'info' | 'warn'; msg: string; fields?: Record<string, unknown> };

export interface SessionTransition {
  state: SessionMachineState;
  effects: SessionEffect[];
  /** For a host call the machine refused (approve, deny): the error its caller gets. Nothing else changed. */
  error?: VendgateError;
}

type SessionEnd =
  | { kind: 'cancelled'; reason: CashlessCancelReason; detail?: string }
  | { kind: 'result'; ok: boolean; reason?: string; detail?: string };

export function sessionTransition(
  cfg: SessionMachineConfig,
  state: SessionMachineState,
  input: SessionInput,
): SessionTransition {
  const t = new Transition(cfg, state);
  t.apply(input);
  return t.result();
}

/** The one transition being computed: the state so far and the effects in order. */
class Transition {
  private state: SessionMachineState;
  private readonly effects: SessionEffect[] = [];
  private error: VendgateError | undefined;

  constructor(
    private readonly cfg: SessionMachineConfig,
    state: SessionMachineState,
  ) {
    this.state = state;
  }

  result(): SessionTransition {
    return this.error === undefined
      ? { state: this.state, effects: this.effects }
      : { state: this.state, effects: this.effects, error: this.error };
  }

  apply(input: SessionInput): void {
    switch (input.type) {
      case 'vend-request':
        this.vendRequest(input.sessionId, input.price, input.item, input.now);
        return;
      case 'status':
        this.status(input.state);
        return;
      case 'vend-success':
        this.vendOutcome(true, input.item, undefined);
        return;
      case 'vend-fail':
        this.vendOutcome(false, input.item, input.reason);
        return;
      case 'adapter-error':
        this.effects.push({ type: 'log', level: 'warn', msg: 'adapter error', fields: { text: input.text } });
        this.adapterError(ErrorCode.CashlessAdapterError, input.text, this.state.session?.id);
        return;
      case 'approve':
        this.approve(input.sessionId, input.amount, input.ready);
        return;
      case 'approve-acked':
        this.approveAcked(input.sessionId);
        return;
      case 'approve-refused':
        this.approveRefused(input.sessionId, input.amount, input.reason);
        return;
      case 'approve-unanswered': {
        const s = this.open(input.sessionId);
        if (s?.state === 'approving') this.markApproved(s);
        return;
      }
      case 'deny':
        this.deny(input.sessionId, input.reason);
        return;
      case 'begin':
        this.begin(input.sessionId, input.funds, input.idleMs, input.now, input.ready);
        return;
      case 'begin-refused': {
        const s = this.open(input.sessionId);
        if (s?.state === 'funded')
          this.close(s, {
            kind: 'cancelled',
            reason: 'denied',
            detail: `adapter refused C,START: ${input.reason ?? 'NACK'}`,
          });
        this.error = new VendgateError(
          ErrorCode.CashlessCommandRefused,
          `adapter refused the session with funds: ${input.reason ?? 'NACK'}`,
          { machineId: this.cfg.machineId, sessionId: input.sessionId },
        );
        return;
      }
      case 'begin-acked':
        this.startAnswered(input.sessionId);
        return;
      case 'begin-unanswered':
        this.startAnswered(input.sessionId);
        this.effects.push({
          type: 'log',
          level: 'warn',
          msg: 'no reply to C,START; the session stays open until its idle time',
          fields: { sessionId: input.sessionId },
        });
        return;
      case 'end':
        this.end(input.sessionId, input.reason);
        return;
      case 'deadline':
        this.deadline(input.sessionId);
        return;
      case 'link-lost':
        this.endOnLoss(input.reason);
        return;
      case 'stop': {
        // Deny an unanswered session on the way out rather than leave the machine waiting.
        const s = this.state.session;
        if (s && input.canSend && (s.state === 'requested' || s.state === 'funded')) {
          this.close(s, { kind: 'cancelled', reason: 'denied', detail: 'driver stopped' });
          this.effects.push({ type: 'write-stop' });
        }
        this.endOnLoss('driver stopped');
        return;
      }
    }
  }

  // ---- adapter lines ---------------------------------------------------------------

  private vendRequest(sessionId: string, raw: string, item: number, now: number): void {
    this.state = { ...this.state, readerState: 'VEND' };
    const open = this.state.session;
    if (open?.state === 'funded') {
      this.fundedRequest(open, raw, item, now);
      return;
    }
    if (open) {
      // Section 7.4: a second request while a session is open is a protocol error.
      this.count('protocolErrors');
      const text = `vend request for item ${item} while session ${open.id} (item ${open.item}) is ${open.state}`;
      this.effects.push({ type: 'log', level: 'warn', msg: text });
      this.adapterError(ErrorCode.CashlessSessionBusy, text, open.id);
      if (open.state === 'approved' || open.state === 'approving') {
        this.close(open, { kind: 'result', ok: false, reason: 'superseded', detail: text });
      } else {
        this.close(open, { kind: 'cancelled', reason: 'protocol-error', detail: text });
      }
      this.effects.push({ type: 'send-stop' });
      return;
    }
    let price: number;
    try {
      price = mdbAmountToMinor(raw, this.cfg.money);
    } catch (err) {
      this.count('protocolErrors');
      const text = `vend request for item ${item} with unusable price "${raw}": ${(err as Error).message}`;
      this.effects.push({ type: 'log', level: 'warn', msg: text });
      this.adapterError(ErrorCode.CashlessPriceInvalid, text);
      this.effects.push({ type: 'send-stop' });
      return;
    }
    const windowMs = this.cfg.maxResponseTimeSec * 1000;
    const margin = Math.min(this.cfg.deadlineMarginMs, Math.floor(windowMs / 2));
    const s: Session = {
      id: sessionId,
      item,
      price,
      receivedAt: now,
      deadline: now + windowMs - margin,
      state: 'requested',
      amount: 0,
      funds: null,
      idleMs: 0,
      startAnswered: true,
    };
    this.state = { ...this.state, session: s };
    this.effects.push({ type: 'set-timer', sessionId, ms: windowMs - margin });
    this.count('sessions');
    this.effects.push({
      type: 'log',
      level: 'info',
      msg: 'vend request',
      fields: { sessionId, item, price },
    });
    this.effects.push({
      type: 'vend-request',
      event: {
        sessionId,
        machineId: this.cfg.machineId,
        item,
        price: { amount: price, currency: this.cfg.money.currency },
        receivedAt: now,
        deadline: s.deadline,
      },
    });
  }

  private startAnswered(sessionId: string): void {
    const s = this.state.session;
    if (s?.id === sessionId && !s.startAnswered)
      this.state = { ...this.state, session: { ...s, startAnswered: true } };
  }

  private status(readerState: string): void {
    this.state = { ...this.state, readerState };
    const s = this.state.session;
    if (!s) return;
    // A status read before the adapter answered our C,START was sent before it
    // took the session (the ENABLED that followed the reader's configuration,
    // say): it says nothing about the session, and must not end it.
    if (!s.startAnswered) return;
    if (s.funds !== null && readerState === 'IDLE' && (s.state === 'funded' || s.state === 'requested')) {
      // Section 7.5: IDLE is MDB "session idle", where a session with funds
      // waits for a selection; during a request it means the machine withdrew it.
      if (s.state === 'requested') this.backToFunded(s);
      return;
    }
    // Back to idle / enabled / disabled while a session is open: the machine ended it.
    if (s.state === 'approved') {
      this.close(s, { kind: 'result', ok: false, reason: 'session-ended', detail: `status ${readerState}` });
    } else {
      this.close(s, { kind: 'cancelled', reason: 'machine-cancelled', detail: `status ${readerState}` });
    }
  }

  private vendOutcome(ok: boolean, item: number | undefined, detail: string | undefined): void {
    const s = this.state.session;
    if (!s || s.state === 'requested' || s.state === 'funded') {
      this.count('protocolErrors');
      const text = `vend ${ok ? 'success' : 'failure'}${item === undefined ? '' : ` for item ${item}`} without an approved session`;
      this.effects.push({ type: 'log', level: 'warn', msg: text });
      this.adapterError(ErrorCode.DeviceProtocol, text, s?.id);
      return;
    }
    if (item !== undefined && item !== s.item) {
      this.effects.push({
        type: 'log',
        level: 'warn',
        msg: 'vend result names another item',
        fields: { sessionId: s.id, item, expected: s.item },
      });
    }
    // 'approving': the result overtook the ACK (or the ACK was lost); the machine vended on our approval.
    if (ok) this.close(s, { kind: 'result', ok: true });
    else
      this.close(
        s,
        detail === undefined
          ? { kind: 'result', ok: false, reason: 'vend-failed' }
          : { kind: 'result', ok: false, reason: 'vend-failed', detail },
      );
  }

  // ---- host calls ----------------------------------------------------------------

  private approve(sessionId: string, amount: number, ready: boolean): void {
    const s = this.requested(sessionId);
    if (!s) return;
    if (!Number.isSafeInteger(amount) || amount < 0 || amount > s.price) {
      this.error = new VendgateError(
        ErrorCode.CashlessPriceInvalid,
        `approved amount must be an integer 0..${s.price} (the requested price), got ${amount}`,
        { machineId: this.cfg.machineId, sessionId, amount, price: s.price },
      );
      return;
    }
    if (s.funds !== null && amount > s.funds) {
      this.error = new VendgateError(
        ErrorCode.CashlessPriceInvalid,
        `approved amount ${amount} exceeds the session's funds ${s.funds}`,
        { machineId: this.cfg.machineId, sessionId, amount, funds: s.funds },
      );
      return;
    }
    let wire: string;
    try {
      wire = minorToMdbAmount(amount, this.cfg.money);
    } catch (err) {
      this.error = err as VendgateError; // minorToMdbAmount throws only VendgateError CashlessPriceInvalid
      return;
    }
    if (!ready) {
      this.error = deviceOfflineError(this.cfg.machineId, 'adapter not ready', { sessionId });
      return;
    }
    this.state = { ...this.state, session: { ...s, state: 'approving', amount } };
    this.effects.push({ type: 'send-approve', sessionId, amount: wire });
  }

  private approveAcked(sessionId: string): void {
    const s = this.open(sessionId);
    if (!s) {
      this.error = new VendgateError(
        ErrorCode.CashlessSessionUnknown,
        `session ${sessionId} ended before the approval was acknowledged`,
        { machineId: this.cfg.machineId, sessionId },
      );
      return;
    }
    if (s.state === 'approving') this.markApproved(s);
  }

  private approveRefused(sessionId: string, amount: number, reason: string | undefined): void {
    const s = this.open(sessionId);
    // The machine still waits: deny() or the deadline ends the session.
    if (s?.state === 'approving')
      this.state = { ...this.state, session: { ...s, state: 'requested', amount: 0 } };

    this.error = new VendgateError(
      ErrorCode.CashlessCommandRefused,
      `adapter refused the approval: ${reason ?? 'NACK'}`,
      { machineId: this.cfg.machineId, sessionId, amount },
    );
  }

  private deny(sessionId: string, reason: string): void {
    const s = this.requested(sessionId);
    if (!s) return;
    this.count('denied');
    if (s.funds !== null) {
      // Section 7.5: deny this request only; the customer may choose again.
      this.effects.push({
        type: 'log',
        level: 'info',
        msg: 'vend request denied; the session with funds stays open',
        fields: { sessionId, item: s.item, price: s.price, funds: s.funds, reason },
      });
      this.backToFunded(s);
      this.effects.push({ type: 'send-deny-vend' });
      return;
    }
    this.close(s, { kind: 'cancelled', reason: 'denied', detail: reason });
    this.effects.push({ type: 'send-stop' });
  }

  // ---- timer, link ----------------------------------------------------------------

  private deadline(sessionId: string): void {
    const s = this.open(sessionId);
    if (!s) return;
    if (s.state === 'approved') {
      this.close(s, {
        kind: 'result',
        ok: false,
        reason: 'result-timeout',
        detail: `no vend result within ${this.cfg.vendResultTimeoutMs} ms of the approval`,
      });
      return;
    }
    if (s.state === 'approving') {
      // The approval is on the wire; its reply (or timeout) decides. Check again shortly.
      this.effects.push({ type: 'set-timer', sessionId, ms: this.cfg.replyTimeoutMs });
      return;
    }
    this.count('timeouts');
    if (s.state === 'requested' && s.funds !== null) {
      // A request inside a session with funds not answered in time: deny it, keep the session.
      this.effects.push({
        type: 'log',
        level: 'info',
        msg: 'vend request not answered before its deadline; denying it',
        fields: { sessionId },
      });
      this.backToFunded(s);
      this.effects.push({ type: 'send-deny-vend' });
      return;
    }
    this.effects.push({
      type: 'log',
      level: 'info',
      msg:
        s.state === 'funded'
          ? 'no selection within the session idle time; ending the session'
          : 'session not answered before its deadline; denying',
      fields: { sessionId },
    });
    this.close(s, { kind: 'cancelled', reason: 'timeout' });
    this.effects.push({ type: 'send-stop' });
  }

  private endOnLoss(reason: string): void {
    const s = this.state.session;
    if (!s) return;
    if (s.state === 'requested' || s.state === 'funded')
      this.close(s, { kind: 'cancelled', reason: 'link-lost', detail: reason });
    else this.close(s, { kind: 'result', ok: false, reason: 'link-lost', detail: reason });
  }

  // ---- authorization first (section 7.5) ----------------------------------------------

  private begin(sessionId: string, funds: number, idleMs: number, now: number, ready: boolean): void {
    const open = this.state.session;
    if (open) {
      this.error = new VendgateError(
        ErrorCode.CashlessSessionBusy,
        `machine ${this.cfg.machineId} already has session ${open.id} (${open.state}); one session at a time`,
        { machineId: this.cfg.machineId, sessionId, open: open.id },
      );
      return;
    }
    if (!Number.isSafeInteger(funds) || funds <= 0) {
      this.error = new VendgateError(
        ErrorCode.CashlessPriceInvalid,
        `session funds must be a positive integer of minor units, got ${funds}`,
        { machineId: this.cfg.machineId, sessionId, funds },
      );
      return;
    }
    if (!Number.isSafeInteger(idleMs) || idleMs <= 0) {
      this.error = new VendgateError(
        ErrorCode.DeviceProtocol,
        `session idle time must be a positive integer of ms, got ${idleMs}`,
        {
          machineId: this.cfg.machineId,
          sessionId,
        },
      );
      return;
    }
    let wire: string;
    try {
      wire = minorToMdbAmount(funds, this.cfg.money);
    } catch (err) {
      this.error = err as VendgateError; // minorToMdbAmount throws only VendgateError CashlessPriceInvalid
      return;
    }
    if (!ready) {
      this.error = deviceOfflineError(this.cfg.machineId, 'adapter not ready', { sessionId });
      return;
    }
    const s: Session = {
      id: sessionId,
      item: 0,
      price: 0,
      receivedAt: now,
      deadline: now + idleMs,
      state: 'funded',
      amount: 0,
      funds,
      idleMs,
      startAnswered: false,
    };
    this.state = { ...this.state, session: s };
    this.count('sessions');
    this.effects.push({
      type: 'log',
      level: 'info',
      msg: 'session with funds',
      fields: { sessionId, funds },
    });
    this.effects.push({ type: 'send-begin', sessionId, funds: wire });
    this.effects.push({ type: 'set-timer', sessionId, ms: idleMs });
  }

  /** A vend request inside a session with funds: it becomes the session's pending request. */
  private fundedRequest(open: Session, raw: string, item: number, now: number): void {
    let price: number;
    try {
      price = mdbAmountToMinor(raw, this.cfg.money);
    } catch (err) {
      this.count('protocolErrors');
      const text = `vend request for item ${item} with unusable price "${raw}": ${(err as Error).message}`;
      this.effects.push({ type: 'log', level: 'warn', msg: text });
      this.adapterError(ErrorCode.CashlessPriceInvalid, text, open.id);
      this.effects.push({ type: 'send-deny-vend' });
      return;
    }
    const windowMs = this.cfg.maxResponseTimeSec * 1000;
    const margin = Math.min(this.cfg.deadlineMarginMs, Math.floor(windowMs / 2));
    const s: Session = {
      ...open,
      item,
      price,
      receivedAt: now,
      deadline: now + windowMs - margin,
      state: 'requested',
    };
    this.state = { ...this.state, session: s };
    this.effects.push({ type: 'set-timer', sessionId: s.id, ms: windowMs - margin });
    this.effects.push({
      type: 'log',
      level: 'info',
      msg: 'vend request in a session with funds',
      fields: { sessionId: s.id, item, price, funds: s.funds },
    });
    this.effects.push({
      type: 'vend-request',
      event: {
        sessionId: s.id,
        machineId: this.cfg.machineId,
        item,
        price: { amount: price, currency: this.cfg.money.currency },
        receivedAt: now,
        deadline: s.deadline,
        credit: { amount: s.funds!, currency: this.cfg.money.currency },
      },
    });
  }

  private backToFunded(s: Session): void {
    this.state = { ...this.state, session: { ...s, item: 0, price: 0, state: 'funded', amount: 0 } };
    this.effects.push({ type: 'set-timer', sessionId: s.id, ms: s.idleMs });
  }

  private end(sessionId: string, reason: string): void {
    const s = this.open(sessionId);
    if (!s || s.funds === null) {
      this.error = new VendgateError(
        ErrorCode.CashlessSessionUnknown,
        `no open session with funds ${sessionId} on machine ${this.cfg.machineId}`,
        { machineId: this.cfg.machineId, sessionId, open: this.state.session?.id ?? null },
      );
      return;
    }
    if (s.state === 'approving' || s.state === 'approved') {
      this.error = new VendgateError(
        ErrorCode.CashlessSessionBusy,
        `session ${sessionId} is already ${s.state}; its vend result ends it`,
        { machineId: this.cfg.machineId, sessionId, state: s.state },
      );
      return;
    }
    this.close(s, { kind: 'cancelled', reason: 'denied', detail: reason });
    this.effects.push({ type: 'send-stop' });
  }

  // ---- helpers --------------------------------------------------------------------

  /** The open session if it is `sessionId`. */
  private open(sessionId: string): Session | null {
    const s = this.state.session;
    return s !== null && s.id === sessionId ? s : null;
  }

  /** The open session `sessionId` if it still awaits its answer; otherwise sets the caller's error. */
  private requested(sessionId: string): Session | null {
    const s = this.open(sessionId);
    if (!s) {
      this.error = new VendgateError(
        ErrorCode.CashlessSessionUnknown,
        `no open session ${sessionId} on machine ${this.cfg.machineId}`,
        { machineId: this.cfg.machineId, sessionId, open: this.state.session?.id ?? null },
      );
      return null;
    }
    if (s.state !== 'requested') {
      this.error = new VendgateError(
        ErrorCode.CashlessSessionBusy,
        `session ${sessionId} is already ${s.state}`,
        { machineId: this.cfg.machineId, sessionId, state: s.state },
      );
      return null;
    }
    return s;
  }

  private markApproved(s: Session): void {
    this.state = { ...this.state, session: { ...s, state: 'approved' } };
    this.count('approved');
    this.effects.push({ type: 'set-timer', sessionId: s.id, ms: this.cfg.vendResultTimeoutMs });
  }

  private count(counter: SessionCounter): void {
    this.effects.push({ type: 'count', counter });
  }

  private adapterError(code: ErrorCodeValue, text: string, sessionId?: string): void {
    this.effects.push({
      type: 'adapter-error',
      error: sessionId === undefined ? { code, text } : { code, text, sessionId },
    });
  }

  private close(s: Session, end: SessionEnd): void {
    if (this.state.session?.id !== s.id) return;
    this.state = { ...this.state, session: null };
    this.effects.push({ type: 'clear-timer' });
    const base = { sessionId: s.id, machineId: this.cfg.machineId, item: s.item };
    if (end.kind === 'cancelled') {
      this.effects.push({
        type: 'log',
        level: 'info',
        msg: 'session cancelled',
        fields: { sessionId: s.id, reason: end.reason, detail: end.detail },
      });
      this.effects.push({
        type: 'session-cancelled',
        event: { ...base, reason: end.reason, ...(end.detail === undefined ? {} : { detail: end.detail }) },
      });
    } else {
      this.effects.push({
        type: 'log',
        level: 'info',
        msg: 'vend result',
        fields: { sessionId: s.id, ok: end.ok, reason: end.reason },
      });
      this.effects.push({
        type: 'vend-result',
        event: {
          ...base,
          ok: end.ok,
          amount: { amount: s.amount, currency: this.cfg.money.currency },
          ...(end.reason === undefined ? {} : { reason: end.reason }),
          ...(end.detail === undefined ? {} : { detail: end.detail }),
        },
      });
    }
  }
}
