/**
 * Driver for an MDB cashless adapter speaking the Qibixx-style line protocol
 * (docs/protocols/mdb-adapter.md), implementing the CashlessReader domain
 * port: the gateway is the machine's cashless device for select-then-pay.
 * It is the glue between three parts and owns link health:
 *
 * - commands.ts: stop-and-wait, one host command in flight; its reply
 *   (`r,ACK`, `r,NACK`, or `v,...` for `V`) is matched to it, with a timeout
 *   (section 5), over the shared request queue; never resent.
 * - configuration.ts: on every (re)open `C,0`, the SETCONF lines, then `C,1`
 *   unless disable() was asked for (section 3.3). Online once the adapter
 *   acknowledged them.
 * - session-machine.ts: the sessions (section 7), a pure state machine. The
 *   driver feeds it adapter lines, host calls and its timer, and performs
 *   the effects it returns.
 * - Link health, here: a `V` keepalive when nothing else was sent for
 *   `keepaliveMs`; no line at all for `silenceTimeoutMs`, a port close or
 *   error: offline, close, reopen through the factory with capped
 *   exponential backoff until stop() (like the slot-board driver).
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ErrorCode, type VendgateError } from '../../../core/errors.ts';
import { type Log, namespaced, silentLogger } from '../../../core/log.ts';
import { PortSupervisor } from '../port-supervisor.ts';
import { createTransport, type TransportFactory, type TransportOptions } from '../transport.ts';
import { type AdapterMessage, AdapterMessageDecoder, encodeHostCommand } from './codec.ts';
import { AdapterCommands } from './commands.ts';
import {
  checkMaxResponseTime,
  configureReader,
  describeCommand,
  type ReaderConfig,
} from './configuration.ts';
import { checkMoneyConfig, type MdbCurrency, type MdbMoneyConfig, type PriceFormat } from './money.ts';
import type { CashlessReader, CashlessReaderEvents, CashlessSessionInfo } from './port.ts';
import {
  initialSessionState,
  type SessionEffect,
  type SessionInput,
  type SessionMachineConfig,
  type SessionMachineState,
  sessionTransition,
} from './session-machine.ts';

export { MAX_QUEUED_COMMANDS } from './commands.ts';
export { CONF_KEYS } from './configuration.ts';

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
  /**
   * The session order the machine is set up for (section 7): 'select-first'
   * (always idle, select-then-pay; the default) or 'authorization-first'
   * (pay-first: beginSession() with the customer's credit).
   */
  sessionOrder?: 'select-first' | 'authorization-first';
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

/** What one fed input asks of its caller: the refusal, or the replies of the commands it sent. */
interface Fed {
  error?: VendgateError | undefined;
  approve: Promise<AdapterMessage> | null;
  stop: Promise<void> | null;
  begin: Promise<AdapterMessage> | null;
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

  private readonly log: Log;
  private readonly port: PortSupervisor;
  private readonly commands: AdapterCommands;
  private readonly currency: MdbCurrency;
  private readonly readerConfig: ReaderConfig;
  private readonly sessionConfig: SessionMachineConfig;
  private readonly keepaliveMs: number;
  private readonly silenceTimeoutMs: number;
  private readonly now: () => number;

  private configured = false;
  private wantEnabled = true;
  /** Bumped per connection so stale configure runs stop. */
  private generation = 0;
  private lastRxAt = 0;
  private tickTimer: NodeJS.Timeout | null = null;

  private machine: SessionMachineState = initialSessionState;
  private sessionTimer: NodeJS.Timeout | null = null;

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
        this.feed({ type: 'link-lost', reason });
        this.commands.failAll(this.commands.offlineError(reason));
      },
      onReconnect: () => {
        this.stats.reconnects++;
      },
      onOnline: () => this.emit('online'),
      onOffline: (reason) => this.emit('offline', reason),
    });
    this.currency = opts.currency;
    const money: MdbMoneyConfig = {
      currency: opts.currency,
      scaleFactor: opts.scaleFactor,
      decimalPlaces: opts.decimalPlaces,
      priceFormat: opts.priceFormat ?? 'scaled',
    };
    checkMoneyConfig(money);
    checkMaxResponseTime(opts.maxResponseTimeSec);
    this.readerConfig = {
      currency: opts.currency,
      scaleFactor: opts.scaleFactor,
      decimalPlaces: opts.decimalPlaces,
      maxResponseTimeSec: opts.maxResponseTimeSec,
      alwaysIdle: opts.sessionOrder !== 'authorization-first',
    };
    const replyTimeoutMs = opts.replyTimeoutMs ?? 1000;
    this.sessionConfig = {
      machineId: opts.machineId,
      money,
      maxResponseTimeSec: opts.maxResponseTimeSec,
      deadlineMarginMs: opts.deadlineMarginMs ?? 1000,
      vendResultTimeoutMs: opts.vendResultTimeoutMs ?? 60_000,
      replyTimeoutMs,
    };
    this.keepaliveMs = opts.keepaliveMs ?? 1000;
    this.silenceTimeoutMs = opts.silenceTimeoutMs ?? 3000;
    this.now = opts.now ?? Date.now;
    this.commands = new AdapterCommands({
      machineId: opts.machineId,
      log: this.log,
      replyTimeoutMs,
      stats: this.stats,
      write: (line) => {
        this.port.write(line);
      },
      isOpen: () => this.port.isOpen,
    });
  }

  get online(): boolean {
    return this.port.isOnline;
  }

  /** The last reader state the adapter reported (`c,STATUS,...`). */
  get readerState(): string | null {
    return this.machine.readerState;
  }

  get session(): CashlessSessionInfo | null {
    const s = this.machine.session;
    if (!s) return null;
    return {
      sessionId: s.id,
      item: s.item,
      price: { amount: s.price, currency: this.currency },
      deadline: s.deadline,
      state: s.state,
      ...(s.funds === null ? {} : { funds: { amount: s.funds, currency: this.currency } }),
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
    this.feed({ type: 'stop', canSend: this.connected });
    this.commands.failAll(this.commands.offlineError('driver stopped'));
    this.configured = false;
    await this.port.close();
    this.port.setOffline('stopped');
  }

  approve(sessionId: string, amount: number): Promise<void> {
    const fed = this.feed({ type: 'approve', sessionId, amount, ready: this.configured });
    if (fed.error) return Promise.reject(fed.error);
    return fed.approve!.then(
      (reply) => {
        const answer: SessionInput =
          reply.type === 'nack'
            ? { type: 'approve-refused', sessionId, amount, reason: reply.reason }
            : { type: 'approve-acked', sessionId };
        const { error } = this.feed(answer);
        if (error) throw error;
      },
      (err: VendgateError) => {
        // No reply: the approval may have reached the machine. The session stays
        // open as approved so the machine's result (or the result timeout) ends it.
        this.feed({ type: 'approve-unanswered', sessionId });
        throw err;
      },
    );
  }

  deny(sessionId: string, reason = 'denied'): Promise<void> {
    const fed = this.feed({ type: 'deny', sessionId, reason });
    if (fed.error) return Promise.reject(fed.error);
    return fed.stop ?? Promise.resolve();
  }

  beginSession(sessionId: string, funds: number, opts: { idleMs: number }): Promise<void> {
    const fed = this.feed({
      type: 'begin',
      sessionId,
      funds,
      idleMs: opts.idleMs,
      now: this.now(),
      ready: this.configured,
    });
    if (fed.error) return Promise.reject(fed.error);
    return fed.begin!.then(
      (reply) => {
        if (reply.type !== 'nack') {
          this.feed({ type: 'begin-acked', sessionId });
          return;
        }
        const { error } = this.feed({ type: 'begin-refused', sessionId, reason: reply.reason });
        if (error) throw error;
      },
      (err: VendgateError) => {
        // No reply: the adapter may hold the funds. The session stays open until its idle time.
        this.feed({ type: 'begin-unanswered', sessionId });
        throw err;
      },
    );
  }

  endSession(sessionId: string, reason = 'ended'): Promise<void> {
    const fed = this.feed({ type: 'end', sessionId, reason });
    if (fed.error) return Promise.reject(fed.error);
    return fed.stop ?? Promise.resolve();
  }

  async enable(): Promise<void> {
    this.wantEnabled = true;
    if (this.configured) await this.commands.expectAck({ type: 'enable' });
  }

  async disable(): Promise<void> {
    this.wantEnabled = false;
    if (this.configured) await this.commands.expectAck({ type: 'disable' });
  }

  // ---- sessions ----------------------------------------------------------------

  /** Runs one input through the session machine and performs its effects, in order. */
  private feed(input: SessionInput): Fed {
    const t = sessionTransition(this.sessionConfig, this.machine, input);
    // The new state first: a listener of an emitted event may call approve() / deny() at once.
    this.machine = t.state;
    const fed: Fed = { error: t.error, approve: null, stop: null, begin: null };
    for (const e of t.effects) this.perform(e, fed);
    return fed;
  }

  private perform(e: SessionEffect, fed: Fed): void {
    switch (e.type) {
      case 'vend-request':
        this.emit('vend-request', e.event);
        return;
      case 'vend-result':
        this.emit('vend-result', e.event);
        return;
      case 'session-cancelled':
        this.emit('session-cancelled', e.event);
        return;
      case 'adapter-error':
        this.emit('adapter-error', e.error);
        return;
      case 'send-approve':
        fed.approve = this.commands.send({ type: 'approve', amount: e.amount });
        return;
      case 'send-stop': {
        const stop = this.sendStop();
        stop.catch(() => {}); // deny() hands it to its caller; for the driver's own stops a failure shows in the log
        fed.stop = stop;
        return;
      }
      case 'send-begin':
        fed.begin = this.commands.send({ type: 'begin-session', funds: e.funds });
        return;
      case 'send-deny-vend': {
        const deny = this.connected ? this.commands.expectAck({ type: 'deny-vend' }) : Promise.resolve();
        deny.catch(() => {}); // deny() hands it to its caller; for the driver's own denials a failure shows in the log
        fed.stop = deny;
        return;
      }
      case 'write-stop':
        this.port.write(encodeHostCommand({ type: 'deny' }));
        return;
      case 'set-timer': {
        if (this.sessionTimer) clearTimeout(this.sessionTimer);
        const sessionId = e.sessionId;
        this.sessionTimer = setTimeout(() => {
          this.sessionTimer = null;
          this.feed({ type: 'deadline', sessionId });
        }, e.ms);
        return;
      }
      case 'clear-timer':
        if (this.sessionTimer) clearTimeout(this.sessionTimer);
        this.sessionTimer = null;
        return;
      case 'count':
        this.stats[e.counter]++;
        return;
      case 'log':
        this.log[e.level](e.fields ?? {}, e.msg);
        return;
    }
  }

  // ---- connection management ---------------------------------------------------

  /** Section 3.3: the configure sequence, on every (re)open. */
  private async configure(gen: number): Promise<void> {
    const isCurrent = () => gen === this.generation && this.connected;
    try {
      const done = await configureReader({
        config: this.readerConfig,
        command: (cmd) => this.commands.send(cmd),
        isCurrent,
        wantEnabled: () => this.wantEnabled,
        onRefused: (cmd, reason) => {
          const text = `adapter refused ${describeCommand(cmd)}: ${reason ?? 'NACK'}`;
          this.log.warn({ reason }, text);
          this.emit('adapter-error', { code: ErrorCode.CashlessCommandRefused, text });
        },
      });
      if (!done || !isCurrent()) return;
      this.configured = true;
      this.port.setOnline();
    } catch (err) {
      if (gen !== this.generation) return;
      this.log.warn({ err: (err as Error).message }, 'configure failed');
      this.port.lose(`configure failed: ${(err as Error).message}`);
    }
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
      this.commands.idle &&
      now - this.commands.lastSentAt >= this.keepaliveMs
    ) {
      this.commands.send({ type: 'version' }).catch(() => {}); // a failure shows up as silence
    }
  }

  /** `C,STOP` through the queue; nothing to stop without a port. */
  private sendStop(): Promise<void> {
    if (!this.connected) return Promise.resolve();
    return this.commands.expectAck({ type: 'deny' });
  }

  // ---- receive side --------------------------------------------------------------

  private readonly onMessage = (m: AdapterMessage): void => {
    this.stats.linesIn++;
    this.lastRxAt = performance.now();
    switch (m.type) {
      case 'ack':
      case 'nack':
      case 'version':
        this.commands.reply(m);
        return;
      case 'status':
        this.feed({ type: 'status', state: m.state });
        return;
      case 'vend-request':
        this.feed({
          type: 'vend-request',
          sessionId: randomUUID(),
          price: m.price,
          item: m.item,
          now: this.now(),
        });
        return;
      case 'vend-success':
        this.feed({ type: 'vend-success', item: m.item });
        return;
      case 'vend-fail':
        this.feed({ type: 'vend-fail', item: m.item, reason: m.reason });
        return;
      case 'error':
        this.feed({ type: 'adapter-error', text: m.text });
        return;
      case 'unknown':
        this.stats.unknownLines++;
        this.log.debug({ raw: m.raw }, 'unknown line ignored');
        return;
    }
  };
}
