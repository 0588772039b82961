/**
 * Driver for an MDB cashless adapter speaking the Qibixx-style line protocol
 * (docs/protocols/mdb-adapter.md), implementing the CashlessReader domain
 * port: the gateway is the machine's cashless device for select-then-pay.
 *
 * - Stop-and-wait: one host command in flight; its reply (`r,ACK`,
 *   `r,NACK`, or `v,...` for `V`) is matched to it, with a timeout
 *   (section 5).
 * - On every (re)open: `C,0`, the SETCONF lines (always idle, currency,
 *   scale factor, decimal places, maximum response time), then `C,1` unless
 *   disable() was asked for. Online once the adapter acknowledged them.
 * - Link health: a `V` keepalive when nothing else was sent for
 *   `keepaliveMs`; no line at all for `silenceTimeoutMs`, a port close or
 *   error: offline, close, reopen through the factory with capped
 *   exponential backoff until stop() (like the slot-board driver).
 * - Sessions (section 7): one at a time; each ends with exactly one
 *   'vend-result' or 'session-cancelled'. A session not answered by its
 *   deadline is denied by the driver (`C,STOP`, reason 'timeout').
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ErrorCode, type ErrorCodeValue, VendgateError } from '../../../core/errors.ts';
import { type Log, namespaced, silentLogger } from '../../../core/log.ts';
import { PortSupervisor } from '../port-supervisor.ts';
import { createTransport, type TransportFactory, type TransportOptions } from '../transport.ts';
import { type AdapterMessage, AdapterMessageDecoder, encodeHostCommand, type HostCommand } from './codec.ts';
import {
  checkMoneyConfig,
  type MdbCurrency,
  mdbAmountToMinor,
  mdbCurrencyCode,
  minorToMdbAmount,
  type PriceFormat,
} from './money.ts';
import type {
  CashlessCancelReason,
  CashlessReader,
  CashlessReaderEvents,
  CashlessSessionInfo,
  CashlessSessionState,
} from './port.ts';

/** Section 3.3: the SETCONF keys we send. */
export const CONF_KEYS = {
  alwaysIdle: 'mdb-always-idle',
  currency: 'mdb-currency-code',
  scaleFactor: 'mdb-scale-factor',
  decimalPlaces: 'mdb-decimal-places',
  maxResponseTime: 'mdb-max-response-time',
} as const;

export interface MdbCashlessDriverOptions {
  machineId: string;
  /** `/dev/ttyACM0`, a pty path, or `tcp://host:port`. */
  url: string;
  /** Seam for tests; default createTransport (serialport / node:net). */
  transportFactory?: TransportFactory;
  /** Default 115200 8N1 (a USB CDC adapter ignores it). */
  transportOptions?: TransportOptions;
  /** Root logger; the driver logs under `mdb:<machineId>`. */
  log?: Log;
  /** Reader currency (its ISO 4217 numeric code goes to the adapter as `0x1<nnn>`). */
  currency: MdbCurrency;
  /** MDB scale factor, 1..255. */
  scaleFactor: number;
  /** MDB decimal places, 0..6. */
  decimalPlaces: number;
  /** The reader's application maximum response time in seconds, 1..255: how long the machine waits for approval. */
  maxResponseTimeSec: number;
  /** How the adapter prints amounts; default 'scaled' (section 6). */
  priceFormat?: PriceFormat;
  /** Wait for a command's reply. Default 1000 ms. */
  replyTimeoutMs?: number;
  /** Send `V` when nothing was sent for this long. Default 1000 ms; 0 = never (firmware without `V`). */
  keepaliveMs?: number;
  /** Offline after this long without any line from the adapter. Default 3000 ms; 0 = never. */
  silenceTimeoutMs?: number;
  /** Reopen backoff: first delay, doubled per failed attempt, capped. Default 100 ms -> 5000 ms. */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /**
   * The driver's deadline is this long before the machine's own (receipt +
   * maximum response time), so its `C,STOP` arrives in time. Capped at half
   * the window. Default 1000 ms.
   */
  deadlineMarginMs?: number;
  /** After an approval, wait this long for the machine's result. Default 60 s. */
  vendResultTimeoutMs?: number;
  /** Epoch clock for receivedAt / deadline. Default Date.now. */
  now?: () => number;
}

export interface MdbCashlessDriverStats {
  linesIn: number;
  linesOut: number;
  unknownLines: number;
  nacks: number;
  replyTimeouts: number;
  reconnects: number;
  sessions: number;
  approved: number;
  denied: number;
  timeouts: number;
  protocolErrors: number;
}

interface Pending {
  cmd: HostCommand;
  line: Buffer;
  /** For `V` the reply is `v,...`; for everything else `r,ACK` / `r,NACK`. */
  expects: 'ack' | 'version';
  timer: NodeJS.Timeout | null;
  resolve: (reply: AdapterMessage) => void;
  reject: (err: VendgateError) => void;
}

interface Session {
  id: string;
  item: number;
  price: number;
  receivedAt: number;
  deadline: number;
  state: CashlessSessionState;
  amount: number;
  timer: NodeJS.Timeout | null;
}

export class MdbCashlessDriver extends EventEmitter<CashlessReaderEvents> implements CashlessReader {
  readonly machineId: string;
  readonly url: string;
  readonly decoder = new AdapterMessageDecoder();
  readonly stats: MdbCashlessDriverStats = {
    linesIn: 0,
    linesOut: 0,
    unknownLines: 0,
    nacks: 0,
    replyTimeouts: 0,
    reconnects: 0,
    sessions: 0,
    approved: 0,
    denied: 0,
    timeouts: 0,
    protocolErrors: 0,
  };
  /** The last reader state the adapter reported (`c,STATUS,...`). */
  readerState: string | null = null;

  private readonly log: Log;
  private readonly port: PortSupervisor;
  private readonly currency: MdbCurrency;
  private readonly money: {
    currency: MdbCurrency;
    scaleFactor: number;
    decimalPlaces: number;
    priceFormat: PriceFormat;
  };
  private readonly maxResponseTimeSec: number;
  private readonly replyTimeoutMs: number;
  private readonly keepaliveMs: number;
  private readonly silenceTimeoutMs: number;
  private readonly deadlineMarginMs: number;
  private readonly vendResultTimeoutMs: number;
  private readonly now: () => number;

  private configured = false;
  private wantEnabled = true;
  /** Bumped per connection so stale configure runs stop. */
  private generation = 0;
  private lastRxAt = 0;
  private lastTxAt = 0;
  private tickTimer: NodeJS.Timeout | null = null;

  private readonly queue: Pending[] = [];
  private inflight: Pending | null = null;
  private current: Session | null = null;

  constructor(opts: MdbCashlessDriverOptions) {
    super();
    this.machineId = opts.machineId;
    this.url = opts.url;
    this.log = namespaced(opts.log ?? silentLogger(), `mdb:${opts.machineId}`);
    this.port = new PortSupervisor({
      url: opts.url,
      factory: opts.transportFactory ?? createTransport,
      transportOptions: opts.transportOptions ?? { baudRate: 115200 },
      log: this.log,
      reconnectInitialMs: opts.reconnectInitialMs ?? 100,
      reconnectMaxMs: opts.reconnectMaxMs ?? 5000,
      onData: (chunk) => this.decoder.feed(chunk, this.onMessage),
      onOpen: () => {
        this.decoder.reset();
        this.lastRxAt = performance.now();
        void this.configure(++this.generation);
      },
      onLost: (reason) => {
        this.configured = false;
        this.generation++;
        this.port.setOffline(reason);
        this.endSessionOnLoss(reason);
        this.failPending(this.offlineError(reason));
      },
      onReconnect: () => {
        this.stats.reconnects++;
      },
      onOnline: () => this.emit('online'),
      onOffline: (reason) => this.emit('offline', reason),
    });
    this.currency = opts.currency;
    this.money = {
      currency: opts.currency,
      scaleFactor: opts.scaleFactor,
      decimalPlaces: opts.decimalPlaces,
      priceFormat: opts.priceFormat ?? 'scaled',
    };
    checkMoneyConfig(this.money);
    if (
      !Number.isInteger(opts.maxResponseTimeSec) ||
      opts.maxResponseTimeSec < 1 ||
      opts.maxResponseTimeSec > 255
    ) {
      throw new VendgateError(ErrorCode.DeviceProtocol, 'maxResponseTimeSec must be an integer 1..255', {
        maxResponseTimeSec: opts.maxResponseTimeSec,
      });
    }
    this.maxResponseTimeSec = opts.maxResponseTimeSec;
    this.replyTimeoutMs = opts.replyTimeoutMs ?? 1000;
    this.keepaliveMs = opts.keepaliveMs ?? 1000;
    this.silenceTimeoutMs = opts.silenceTimeoutMs ?? 3000;
    this.deadlineMarginMs = opts.deadlineMarginMs ?? 1000;
    this.vendResultTimeoutMs = opts.vendResultTimeoutMs ?? 60_000;
    this.now = opts.now ?? Date.now;
  }

  get online(): boolean {
    return this.port.isOnline;
  }

  get session(): CashlessSessionInfo | null {
    const s = this.current;
    if (!s) return null;
    return {
      sessionId: s.id,
      item: s.item,
      price: { amount: s.price, currency: this.currency },
      deadline: s.deadline,
      state: s.state,
    };
  }

  /** True while a transport is open (the adapter may still be silent). */
  get portOpen(): boolean {
    return this.port.isOpen;
  }

  private get connected(): boolean {
    return this.port.isOpen;
  }

  async start(): Promise<void> {
    if (this.port.isRunning) return;
    const periods = [this.keepaliveMs, this.silenceTimeoutMs].filter((ms) => ms > 0);
    const tick = Math.max(10, Math.floor(Math.min(1000, ...periods) / 4));
    this.tickTimer = setInterval(() => this.tick(), tick);
    await this.port.start();
  }

  async stop(): Promise<void> {
    if (!this.port.isRunning) return;
    this.port.halt();
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = null;
    // Deny an unanswered session on the way out rather than leave the machine waiting.
    const s = this.current;
    if (s && this.connected && s.state === 'requested') {
      this.closeSession(s, { kind: 'cancelled', reason: 'denied', detail: 'driver stopped' });
      this.writeNow({ type: 'deny' });
    }
    this.endSessionOnLoss('driver stopped');
    this.failPending(this.offlineError('driver stopped'));
    this.configured = false;
    await this.port.close();
    this.port.setOffline('stopped');
  }

  approve(sessionId: string, amount: number): Promise<void> {
    const s = this.current;
    if (!s || s.id !== sessionId) return Promise.reject(this.unknownSession(sessionId));
    if (s.state !== 'requested') {
      return Promise.reject(
        new VendgateError(ErrorCode.CashlessSessionBusy, `session ${sessionId} is already ${s.state}`, {
          machineId: this.machineId,
          sessionId,
          state: s.state,
        }),
      );
    }
    let wire: string;
    try {
      if (!Number.isSafeInteger(amount) || amount < 0 || amount > s.price) {
        throw new VendgateError(
          ErrorCode.CashlessPriceInvalid,
          `approved amount must be an integer 0..${s.price} (the requested price), got ${amount}`,
          { machineId: this.machineId, sessionId, amount, price: s.price },
        );
      }
      wire = minorToMdbAmount(amount, this.money);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!this.configured) return Promise.reject(this.offlineError('adapter not ready', { sessionId }));
    s.state = 'approving';
    s.amount = amount;
    return this.command({ type: 'approve', amount: wire }).then(
      (reply) => {
        if (reply.type === 'nack') {
          if (this.current === s) s.state = 'requested'; // the machine still waits; deny or the deadline ends it
          throw new VendgateError(
            ErrorCode.CashlessCommandRefused,
            `adapter refused the approval: ${reply.reason ?? 'NACK'}`,
            { machineId: this.machineId, sessionId, amount },
          );
        }
        if (this.current !== s) {
          throw new VendgateError(
            ErrorCode.CashlessSessionUnknown,
            `session ${sessionId} ended before the approval was acknowledged`,
            { machineId: this.machineId, sessionId },
          );
        }
        this.markApproved(s);
      },
      (err: VendgateError) => {
        // No reply: the approval may have reached the machine. Keep the session
        // open as approved so the machine's result (or the result timeout) ends it.
        if (this.current === s && s.state === 'approving') this.markApproved(s);
        throw err;
      },
    );
  }

  deny(sessionId: string, reason = 'denied'): Promise<void> {
    const s = this.current;
    if (!s || s.id !== sessionId) return Promise.reject(this.unknownSession(sessionId));
    if (s.state !== 'requested') {
      return Promise.reject(
        new VendgateError(ErrorCode.CashlessSessionBusy, `session ${sessionId} is already ${s.state}`, {
          machineId: this.machineId,
          sessionId,
          state: s.state,
        }),
      );
    }
    this.stats.denied++;
    this.closeSession(s, { kind: 'cancelled', reason: 'denied', detail: reason });
    return this.sendStop();
  }

  async enable(): Promise<void> {
    this.wantEnabled = true;
    if (this.configured) await this.expectAck({ type: 'enable' });
  }

  async disable(): Promise<void> {
    this.wantEnabled = false;
    if (this.configured) await this.expectAck({ type: 'disable' });
  }

  // ---- connection management ---------------------------------------------------

  /** Section 3.3: the configure sequence, on every (re)open. */
  private async configure(gen: number): Promise<void> {
    const steps: HostCommand[] = [
      { type: 'disable' },
      { type: 'setconf', key: CONF_KEYS.alwaysIdle, value: '1' },
      { type: 'setconf', key: CONF_KEYS.currency, value: mdbCurrencyCode(this.currency) },
      { type: 'setconf', key: CONF_KEYS.scaleFactor, value: String(this.money.scaleFactor) },
      { type: 'setconf', key: CONF_KEYS.decimalPlaces, value: String(this.money.decimalPlaces) },
      { type: 'setconf', key: CONF_KEYS.maxResponseTime, value: String(this.maxResponseTimeSec) },
    ];
    try {
      for (const cmd of steps) {
        if (gen !== this.generation) return;
        const reply = await this.command(cmd);
        if (reply.type === 'nack') this.refused(cmd, reply.reason);
      }
      if (gen !== this.generation) return;
      if (this.wantEnabled) {
        const reply = await this.command({ type: 'enable' });
        if (reply.type === 'nack') this.refused({ type: 'enable' }, reply.reason);
      }
      if (gen !== this.generation || !this.connected) return;
      this.configured = true;
      this.port.setOnline();
    } catch (err) {
      if (gen !== this.generation) return;
      this.log.warn({ err: (err as Error).message }, 'configure failed');
      this.port.lose(`configure failed: ${(err as Error).message}`);
    }
  }

  private refused(cmd: HostCommand, reason: string | undefined): void {
    const text = `adapter refused ${cmd.type}${cmd.type === 'setconf' ? ` ${cmd.key}=${cmd.value}` : ''}: ${reason ?? 'NACK'}`;
    this.log.warn({ reason }, text);
    this.emitAdapterError(ErrorCode.CashlessCommandRefused, text);
  }

  private tick(): void {
    if (!this.connected) return;
    const now = performance.now();
    if (this.silenceTimeoutMs > 0 && now - this.lastRxAt > this.silenceTimeoutMs) {
      this.port.lose(`silence: no line from the adapter for ${this.silenceTimeoutMs} ms`);
      return;
    }
    if (
      this.keepaliveMs > 0 &&
      this.configured &&
      !this.inflight &&
      this.queue.length === 0 &&
      now - this.lastTxAt >= this.keepaliveMs
    ) {
      this.command({ type: 'version' }).catch(() => {}); // a failure shows up as silence
    }
  }

  private offlineError(reason: string, context: Record<string, unknown> = {}): VendgateError {
    return new VendgateError(ErrorCode.DeviceOffline, `machine ${this.machineId} offline: ${reason}`, {
      machineId: this.machineId,
      ...context,
    });
  }

  private unknownSession(sessionId: string): VendgateError {
    return new VendgateError(
      ErrorCode.CashlessSessionUnknown,
      `no open session ${sessionId} on machine ${this.machineId}`,
      { machineId: this.machineId, sessionId, open: this.current?.id ?? null },
    );
  }

  private emitAdapterError(code: ErrorCodeValue, text: string, sessionId?: string): void {
    this.emit('adapter-error', sessionId === undefined ? { code, text } : { code, text, sessionId });
  }

  // ---- commands ----------------------------------------------------------------

  /** Queues a command; resolves with its reply (ack, nack or version). Rejects on timeout / link loss. */
  private command(cmd: HostCommand): Promise<AdapterMessage> {
    if (!this.connected) return Promise.reject(this.offlineError('port not open'));
    let line: Buffer;
    try {
      line = encodeHostCommand(cmd);
    } catch (err) {
      return Promise.reject(
        new VendgateError(ErrorCode.DeviceProtocol, (err as Error).message, { machineId: this.machineId }),
      );
    }
    return new Promise<AdapterMessage>((resolve, reject) => {
      this.queue.push({
        cmd,
        line,
        expects: cmd.type === 'version' ? 'version' : 'ack',
        timer: null,
        resolve,
        reject,
      });
      this.pump();
    });
  }

  /** A command whose NACK is an error. */
  private async expectAck(cmd: HostCommand): Promise<void> {
    const reply = await this.command(cmd);
    if (reply.type === 'nack') {
      this.stats.nacks++;
      throw new VendgateError(
        ErrorCode.CashlessCommandRefused,
        `adapter refused ${cmd.type}: ${reply.reason ?? 'NACK'}`,
        { machineId: this.machineId },
      );
    }
  }

  private sendStop(): Promise<void> {
    if (!this.connected) return Promise.resolve();
    return this.expectAck({ type: 'deny' });
  }

  /** Writes a line outside the queue (on the way out in stop()). */
  private writeNow(cmd: HostCommand): void {
    this.port.write(encodeHostCommand(cmd));
  }

  private pump(): void {
    if (this.inflight || !this.connected) return;
    const p = this.queue.shift();
    if (!p) return;
    this.inflight = p;
    this.stats.linesOut++;
    this.lastTxAt = performance.now();
    p.timer = setTimeout(() => {
      if (this.inflight !== p) return;
      this.inflight = null;
      this.stats.replyTimeouts++;
      this.log.warn({ cmd: p.cmd.type }, 'no reply from the adapter');
      p.reject(
        new VendgateError(
          ErrorCode.DeviceTimeout,
          `machine ${this.machineId}: no reply to ${p.cmd.type} within ${this.replyTimeoutMs} ms`,
          { machineId: this.machineId, command: p.cmd.type },
        ),
      );
      this.pump();
    }, this.replyTimeoutMs);
    this.port.write(p.line);
  }

  private failPending(err: VendgateError): void {
    const all = this.inflight ? [this.inflight, ...this.queue] : [...this.queue];
    this.inflight = null;
    this.queue.length = 0;
    for (const p of all) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
  }

  private settleInflight(reply: AdapterMessage): void {
    const p = this.inflight;
    if (!p) {
      this.log.debug({ reply: reply.type }, 'reply with no command in flight');
      return;
    }
    const matches = p.expects === 'version' ? reply.type === 'version' : reply.type !== 'version';
    if (!matches) {
      this.log.debug({ reply: reply.type, cmd: p.cmd.type }, 'reply does not match the command in flight');
      return;
    }
    if (p.timer) clearTimeout(p.timer);
    this.inflight = null;
    if (reply.type === 'nack') this.stats.nacks++;
    p.resolve(reply);
    this.pump();
  }

  // ---- receive side --------------------------------------------------------------

  private readonly onMessage = (m: AdapterMessage): void => {
    this.stats.linesIn++;
    this.lastRxAt = performance.now();
    switch (m.type) {
      case 'ack':
      case 'nack':
      case 'version':
        this.settleInflight(m);
        return;
      case 'status':
        this.onStatus(m.state);
        return;
      case 'vend-request':
        this.onVendRequest(m.price, m.item);
        return;
      case 'vend-success':
        this.onVendOutcome(true, m.item, undefined);
        return;
      case 'vend-fail':
        this.onVendOutcome(false, m.item, m.reason);
        return;
      case 'error':
        this.log.warn({ text: m.text }, 'adapter error');
        this.emitAdapterError(ErrorCode.CashlessAdapterError, m.text, this.current?.id);
        return;
      case 'unknown':
        this.stats.unknownLines++;
        this.log.debug({ raw: m.raw }, 'unknown line ignored');
        return;
    }
  };

  private onStatus(state: string): void {
    this.readerState = state;
    const s = this.current;
    if (!s) return;
    // Back to idle / enabled / disabled while a session is open: the machine ended it.
    if (s.state === 'approved') {
      this.closeSession(s, { kind: 'result', ok: false, reason: 'session-ended', detail: `status ${state}` });
    } else {
      this.closeSession(s, { kind: 'cancelled', reason: 'machine-cancelled', detail: `status ${state}` });
    }
  }

  private onVendRequest(raw: string, item: number): void {
    this.readerState = 'VEND';
    const open = this.current;
    if (open) {
      // Section 7.4: a second request while a session is open is a protocol error.
      this.stats.protocolErrors++;
      const text = `vend request for item ${item} while session ${open.id} (item ${open.item}) is ${open.state}`;
      this.log.warn(text);
      this.emitAdapterError(ErrorCode.CashlessSessionBusy, text, open.id);
      if (open.state === 'approved' || open.state === 'approving') {
        this.closeSession(open, { kind: 'result', ok: false, reason: 'superseded', detail: text });
      } else {
        this.closeSession(open, { kind: 'cancelled', reason: 'protocol-error', detail: text });
      }
      this.sendStop().catch(() => {});
      return;
    }
    let price: number;
    try {
      price = mdbAmountToMinor(raw, this.money);
    } catch (err) {
      this.stats.protocolErrors++;
      const text = `vend request for item ${item} with unusable price "${raw}": ${(err as Error).message}`;
      this.log.warn(text);
      this.emitAdapterError(ErrorCode.CashlessPriceInvalid, text);
      this.sendStop().catch(() => {});
      return;
    }
    const receivedAt = this.now();
    const windowMs = this.maxResponseTimeSec * 1000;
    const margin = Math.min(this.deadlineMarginMs, Math.floor(windowMs / 2));
    const s: Session = {
      id: randomUUID(),
      item,
      price,
      receivedAt,
      deadline: receivedAt + windowMs - margin,
      state: 'requested',
      amount: 0,
      timer: null,
    };
    s.timer = setTimeout(() => this.onDeadline(s), windowMs - margin);
    this.current = s;
    this.stats.sessions++;
    this.log.info({ sessionId: s.id, item, price }, 'vend request');
    this.emit('vend-request', {
      sessionId: s.id,
      machineId: this.machineId,
      item,
      price: { amount: price, currency: this.currency },
      receivedAt,
      deadline: s.deadline,
    });
  }

  private onDeadline(s: Session): void {
    s.timer = null;
    if (this.current !== s) return;
    if (s.state === 'approved') {
      this.closeSession(s, {
        kind: 'result',
        ok: false,
        reason: 'result-timeout',
        detail: `no vend result within ${this.vendResultTimeoutMs} ms of the approval`,
      });
      return;
    }
    if (s.state === 'approving') {
      // The approval is on the wire; its reply (or timeout) decides. Check again shortly.
      s.timer = setTimeout(() => this.onDeadline(s), this.replyTimeoutMs);
      return;
    }
    this.stats.timeouts++;
    this.log.info({ sessionId: s.id }, 'session not answered before its deadline; denying');
    this.closeSession(s, { kind: 'cancelled', reason: 'timeout' });
    this.sendStop().catch(() => {});
  }

  private markApproved(s: Session): void {
    s.state = 'approved';
    this.stats.approved++;
    if (s.timer) clearTimeout(s.timer);
    s.timer = setTimeout(() => this.onDeadline(s), this.vendResultTimeoutMs);
  }

  private onVendOutcome(ok: boolean, item: number | undefined, detail: string | undefined): void {
    const s = this.current;
    if (!s || s.state === 'requested') {
      this.stats.protocolErrors++;
      const text = `vend ${ok ? 'success' : 'failure'}${item === undefined ? '' : ` for item ${item}`} without an approved session`;
      this.log.warn(text);
      this.emitAdapterError(ErrorCode.DeviceProtocol, text, s?.id);
      return;
    }
    if (item !== undefined && item !== s.item) {
      this.log.warn({ sessionId: s.id, item, expected: s.item }, 'vend result names another item');
    }
    // 'approving': the result overtook the ACK (or the ACK was lost); the machine vended on our approval.
    if (ok) this.closeSession(s, { kind: 'result', ok: true });
    else
      this.closeSession(
        s,
        detail === undefined
          ? { kind: 'result', ok: false, reason: 'vend-failed' }
          : { kind: 'result', ok: false, reason: 'vend-failed', detail },
      );
  }

  private endSessionOnLoss(reason: string): void {
    const s = this.current;
    if (!s) return;
    if (s.state === 'requested')
      this.closeSession(s, { kind: 'cancelled', reason: 'link-lost', detail: reason });
    else this.closeSession(s, { kind: 'result', ok: false, reason: 'link-lost', detail: reason });
  }

  private closeSession(
    s: Session,
    end:
      | { kind: 'cancelled'; reason: CashlessCancelReason; detail?: string }
      | { kind: 'result'; ok: boolean; reason?: string; detail?: string },
  ): void {
    if (this.current !== s) return;
    this.current = null;
    if (s.timer) clearTimeout(s.timer);
    s.timer = null;
    if (end.kind === 'cancelled') {
      this.log.info({ sessionId: s.id, reason: end.reason, detail: end.detail }, 'session cancelled');
      this.emit('session-cancelled', {
        sessionId: s.id,
        machineId: this.machineId,
        item: s.item,
        reason: end.reason,
        ...(end.detail === undefined ? {} : { detail: end.detail }),
      });
    } else {
      this.log.info({ sessionId: s.id, ok: end.ok, reason: end.reason }, 'vend result');
      this.emit('vend-result', {
        sessionId: s.id,
        machineId: this.machineId,
        item: s.item,
        ok: end.ok,
        amount: { amount: s.amount, currency: this.currency },
        ...(end.reason === undefined ? {} : { reason: end.reason }),
        ...(end.detail === undefined ? {} : { detail: end.detail }),
      });
    }
  }
}
