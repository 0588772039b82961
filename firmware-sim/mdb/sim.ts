/**
 * A simulated vending machine controller (VMC) with an MDB cashless adapter
 * in front of it, speaking the adapter's line protocol
 * (docs/protocols/mdb-adapter.md) on any ByteTransport: a pty (main.ts), TCP,
 * or an in-memory pair in unit tests.
 *
 * The adapter side answers every host line (`r,ACK` / `r,NACK,<reason>` /
 * `v,<version>`), keeps the reader config set by SETCONF, and reports the
 * reader state. The machine side has selectable items with MDB prices;
 * select() (a button press) sends a vend request and waits the configured
 * maximum response time for the host; after an approval it dispenses and
 * reports success or (with the vend-fail fault) failure. Faults: vend
 * failures, adapter errors, junk lines, silence, unplugging the port.
 *
 * Authorization first (section 7.5): `C,START,<funds>` begins a session
 * with funds; the customer then selects (any item: this machine does not
 * compare the price with the funds itself, so the host must), cancels, or
 * walks away (the machine's session timeout). `C,VEND,-1` denies one
 * request and the customer may choose again; one vend ends the session.
 */
import { EventEmitter } from 'node:events';
import {
  type AdapterMessage,
  encodeAdapterMessage,
  type HostCommand,
  HostCommandDecoder,
} from '../../devices/vending/mdb/codec.ts';
import { lineToScaled, type PriceFormat, scaledToLine } from '../../devices/vending/mdb/money.ts';
import type { ByteTransport } from '../../devices/vending/transport.ts';
import { SimPort } from '../sim-port.ts';

export interface MdbItem {
  item: number;
  /** MDB price integer (scaled), e.g. 350 for 3.50 with scale 1 and 2 decimals. */
  price: number;
}

export interface MdbSimOptions {
  /** Default: items 1..10 priced 100, 150, ... */
  items?: MdbItem[];
  /** How amounts are printed: 'scaled' (default) or 'decimal' (Qibixx style, e.g. 3.50). */
  priceFormat?: PriceFormat;
  /** The machine's wait for approval when the host did not configure one, seconds. Default 30. */
  defaultMaxResponseTimeSec?: number;
  /** Override the machine's wait for approval (ms), whatever the host configured. */
  vmcTimeoutMs?: number;
  /** Time from C,1 to the machine enabling the reader, default 20 ms. */
  enableDelayMs?: number;
  /** Dispense time after an approval, default 200 ms. */
  vendMs?: number;
  firmware?: string;
  /** Authorization first: the machine ends a session with funds that saw no selection for this long. Default 120 s. */
  sessionTimeoutMs?: number;
  /** Close and reopen the port when nothing came from the host for this long. 0 = never (default). */
  reopenOnHostSilenceMs?: number;
  /** Delay between reopen attempts, default 200 ms. */
  reopenRetryMs?: number;
  /** Called synchronously with every finished session, before it is reported. */
  onOutcome?: (record: MdbSessionRecord) => void;
}

/** One finished session; also the JSONL log line format. */
export interface MdbSessionRecord {
  session: number;
  item: number;
  /** MDB price integer. */
  price: number;
  /** 'vend-success', 'vend-fail', 'denied' or 'cancelled'; 'session-ended' closes a session with funds. */
  outcome: 'vend-success' | 'vend-fail' | 'denied' | 'cancelled' | 'session-ended';
  /** Authorization first: the session's funds (MDB price integer). */
  funds?: number;
  /** Approved amount as the host sent it (line text), for vend-success / vend-fail. */
  amount?: string;
  /** For 'cancelled': 'timeout' (no answer in time) or 'customer'; for 'vend-fail': the failure text. */
  reason?: string;
  at: string;
}

/** Control commands (stdin of main.ts, its control socket, and `command()`). */
export type MdbSimCommand =
  | { select: number }
  | { cmd: 'select'; item: number }
  | { cmd: 'cancel' }
  /** Authorization first: the machine's own session timeout fires now (the customer walked away). */
  | { cmd: 'timeout' }
  | { cmd: 'set-price'; item: number; price: number }
  | { fault: 'vend-fail'; count?: number; style?: 'fail' | 'err' }
  | { fault: 'adapter-error'; text: string }
  | { fault: 'junk'; count?: number }
  | { fault: 'silent'; ms: number }
  | { fault: 'unplug'; ms: number }
  | { fault: 'clear' };

export type MdbSimFault = Extract<MdbSimCommand, { fault: string }>;

export interface MdbSimEvents {
  'vend-request': [ev: { session: number; item: number; price: number; line: string; timeoutMs: number }];
  approved: [ev: { session: number; item: number; amount: string }];
  denied: [ev: { session: number; item: number }];
  'vend-success': [ev: { session: number; item: number; amount: string }];
  'vend-fail': [ev: { session: number; item: number; amount: string; reason: string }];
  cancelled: [ev: { session: number; item: number; reason: string }];
  'session-begun': [ev: { session: number; funds: number; line: string }];
  'session-ended': [ev: { session: number; funds: number; reason: string }];
  'select-ignored': [ev: { item: number; reason: string }];
  status: [state: string];
  host: [cmd: HostCommand];
  'port-open': [];
  'port-closed': [reason: string];
  fault: [fault: MdbSimFault];
  outcome: [record: MdbSessionRecord];
}

interface Pending {
  session: number;
  item: number;
  price: number;
  state: 'requested' | 'vending';
  amount: string;
  timer: NodeJS.Timeout | null;
}

export const DEFAULT_ITEMS: MdbItem[] = Array.from({ length: 10 }, (_, i) => ({
  item: i + 1,
  price: 100 + 50 * i,
}));

/** Validates one control line (stdin or socket) into a command; throws with a message on nonsense. */
export function parseSimCommand(line: string): MdbSimCommand {
  const v = JSON.parse(line) as Record<string, unknown>;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('expected a JSON object');
  const nonNeg = (k: string, required: boolean) => {
    if (!(k in v)) {
      if (required) throw new Error(`"${k}" is required`);
      return;
    }
    const n = v[k];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0)
      throw new Error(`"${k}" must be a non-negative integer`);
  };
  if ('select' in v) {
    nonNeg('select', true);
    return { select: v.select as number };
  }
  if (typeof v.cmd === 'string') {
    switch (v.cmd) {
      case 'select':
        nonNeg('item', true);
        return { cmd: 'select', item: v.item as number };
      case 'cancel':
        return { cmd: 'cancel' };
      case 'timeout':
        return { cmd: 'timeout' };
      case 'set-price':
        nonNeg('item', true);
        nonNeg('price', true);
        return { cmd: 'set-price', item: v.item as number, price: v.price as number };
      default:
        throw new Error(`unknown cmd "${v.cmd}"; expected select, cancel, timeout or set-price`);
    }
  }
  if (typeof v.fault === 'string') {
    switch (v.fault) {
      case 'vend-fail':
        nonNeg('count', false);
        if ('style' in v && v.style !== 'fail' && v.style !== 'err')
          throw new Error('"style" must be "fail" or "err"');
        return v as unknown as MdbSimFault;
      case 'adapter-error':
        if (typeof v.text !== 'string' || !/^[\x20-\x7e]{1,200}$/.test(v.text))
          throw new Error('"text" must be 1..200 printable ASCII characters');
        return { fault: 'adapter-error', text: v.text };
      case 'junk':
        nonNeg('count', false);
        return v as unknown as MdbSimFault;
      case 'silent':
      case 'unplug':
        nonNeg('ms', true);
        return { fault: v.fault, ms: v.ms as number };
      case 'clear':
        return { fault: 'clear' };
      default:
        throw new Error(
          `unknown fault "${v.fault}"; expected vend-fail, adapter-error, junk, silent, unplug or clear`,
        );
    }
  }
  throw new Error('expected {"select": N}, {"cmd": ...} or {"fault": ...}');
}

const JUNK_LINES = ['\x00\xff garbage', 'c,STATUS,BOGUS', 'x,1,2,3', 'c,VEND', 'r,MAYBE', '!!!'];

export class MdbSim extends EventEmitter<MdbSimEvents> {
  readonly stats = {
    linesIn: 0,
    unknownLines: 0,
    sessions: 0,
    vends: 0,
    failures: 0,
    cancels: 0,
    denials: 0,
  };
  readonly decoder = new HostCommandDecoder();
  /** The reader config as set by the host with SETCONF. */
  readonly config = new Map<string, string>();
  private readonly items = new Map<number, number>();
  /** Authorization first: the open session with funds. */
  private funded: { session: number; funds: number; timer: NodeJS.Timeout | null } | null = null;
  private readonly opts: Required<Omit<MdbSimOptions, 'items' | 'onOutcome' | 'vmcTimeoutMs'>> &
    Pick<MdbSimOptions, 'onOutcome' | 'vmcTimeoutMs'>;
  private slaveEnabled = false;
  private readerState: 'INACTIVE' | 'DISABLED' | 'ENABLED' | 'VEND' = 'INACTIVE';
  private pending: Pending | null = null;
  private sessionNo = 0;
  private enableTimer: NodeJS.Timeout | null = null;
  private silenceTimer: NodeJS.Timeout | null = null;
  private readonly port: SimPort;
  private silentUntil = 0;
  private vendFaults: { remaining: number; style: 'fail' | 'err' }[] = [];

  constructor(
    readonly transport: ByteTransport,
    opts: MdbSimOptions = {},
  ) {
    super();
    this.opts = {
      priceFormat: opts.priceFormat ?? 'scaled',
      defaultMaxResponseTimeSec: opts.defaultMaxResponseTimeSec ?? 30,
      vmcTimeoutMs: opts.vmcTimeoutMs,
      enableDelayMs: opts.enableDelayMs ?? 20,
      vendMs: opts.vendMs ?? 200,
      sessionTimeoutMs: opts.sessionTimeoutMs ?? 120_000,
      firmware: opts.firmware ?? 'vendgate-sim-mdb/1.0',
      reopenOnHostSilenceMs: opts.reopenOnHostSilenceMs ?? 0,
      reopenRetryMs: opts.reopenRetryMs ?? 200,
      onOutcome: opts.onOutcome,
    };
    for (const it of opts.items ?? DEFAULT_ITEMS) this.items.set(it.item, it.price);
    this.port = new SimPort(transport, {
      reopenRetryMs: this.opts.reopenRetryMs,
      onData: (chunk) => this.receive(chunk),
      onOpen: () => this.emit('port-open'),
      onLost: (reason) => this.emit('port-closed', reason),
      onReopen: () => this.decoder.reset(),
    });
  }

  async start(): Promise<void> {
    await this.port.start();
    const hs = this.opts.reopenOnHostSilenceMs;
    if (hs > 0) this.silenceTimer = setInterval(() => this.checkHostSilence(), Math.max(20, hs / 4));
  }

  async stop(): Promise<void> {
    for (const t of [this.enableTimer, this.pending?.timer, this.funded?.timer]) if (t) clearTimeout(t);
    if (this.silenceTimer) clearInterval(this.silenceTimer);
    this.enableTimer = this.silenceTimer = null;
    if (this.pending) this.pending.timer = null;
    await this.port.stop();
  }

  /** The reader state the machine sees. */
  get state(): string {
    return this.readerState;
  }

  /** Authorization first: the open session with funds, if any. */
  get fundedSession(): { session: number; funds: number } | null {
    return this.funded ? { session: this.funded.session, funds: this.funded.funds } : null;
  }

  /** The open session, if any. */
  get session(): { session: number; item: number; price: number; state: string } | null {
    const p = this.pending;
    return p ? { session: p.session, item: p.item, price: p.price, state: p.state } : null;
  }

  /** The machine's wait for approval, from the host's SETCONF (or the override). */
  get vmcTimeoutMs(): number {
    if (this.opts.vmcTimeoutMs !== undefined) return this.opts.vmcTimeoutMs;
    const s = Number(this.config.get('mdb-max-response-time'));
    return (Number.isInteger(s) && s > 0 ? s : this.opts.defaultMaxResponseTimeSec) * 1000;
  }

  /** Applies one control command (a button press, a fault). Throws on a command it cannot carry out. */
  command(c: MdbSimCommand): void {
    if ('select' in c) {
      this.select(c.select);
    } else if ('cmd' in c) {
      if (c.cmd === 'select') this.select(c.item);
      else if (c.cmd === 'cancel') this.cancel('customer');
      else if (c.cmd === 'timeout') this.sessionTimeout();
      else this.items.set(c.item, c.price);
    } else if ('fault' in c) {
      this.applyFault(c);
    } else {
      throw new Error(`unknown command ${JSON.stringify(c)}`);
    }
  }

  /**
   * A customer presses the button for `item`. Returns false (and emits
   * 'select-ignored' saying why) when the machine ignores the press.
   */
  select(item: number): boolean {
    const price = this.items.get(item);
    const refuse = (reason: string) => {
      this.emit('select-ignored', { item, reason });
      return false;
    };
    if (price === undefined) return refuse('unknown item');
    if (this.pending) return refuse('a session is already open');
    const inFunded = this.funded !== null;
    if (!inFunded && this.readerState !== 'ENABLED') return refuse(`reader is ${this.readerState}`);
    if (!inFunded && this.config.get('mdb-always-idle') === '0')
      return refuse('this machine takes a selection only in a session with funds (pay first)');
    const session = inFunded ? this.funded!.session : ++this.sessionNo;
    if (!inFunded) this.stats.sessions++;
    const line = scaledToLine(price, this.moneyCfg());
    const p: Pending = { session, item, price, state: 'requested', amount: '', timer: null };
    this.pending = p;
    this.readerState = 'VEND';
    const timeoutMs = this.vmcTimeoutMs;
    p.timer = setTimeout(() => {
      p.timer = null;
      if (this.pending === p && p.state === 'requested') this.cancel('timeout');
    }, timeoutMs);
    this.emit('vend-request', { session, item, price, line, timeoutMs });
    this.send({ type: 'vend-request', price: line, item });
    return true;
  }

  /** The machine ends the open request without a vend (customer cancel, or its own timeout). */
  cancel(reason: string): void {
    const p = this.pending;
    if (this.funded && p?.state !== 'vending') {
      // The customer pressed cancel in a session with funds: the machine ends it (MDB SESSION COMPLETE).
      if (p) {
        this.stats.cancels++;
        this.finish(p, { outcome: 'cancelled', reason });
        this.emit('cancelled', { session: p.session, item: p.item, reason });
      }
      this.endFunded(reason);
      return;
    }
    if (p?.state !== 'requested') return;
    this.stats.cancels++;
    this.finish(p, { outcome: 'cancelled', reason });
    this.emit('cancelled', { session: p.session, item: p.item, reason });
    this.backToIdle();
  }

  /** Authorization first: the machine's session timeout (no selection made); ignored while vending. */
  sessionTimeout(): void {
    if (!this.funded || this.pending?.state === 'vending') return;
    this.cancel('timeout');
  }

  applyFault(f: MdbSimFault): void {
    switch (f.fault) {
      case 'vend-fail':
        this.vendFaults.push({ remaining: f.count ?? 1, style: f.style ?? 'fail' });
        break;
      case 'adapter-error':
        this.send({ type: 'error', text: f.text });
        break;
      case 'junk':
        for (let i = 0; i < (f.count ?? 3); i++) {
          this.writeRaw(Buffer.from(`${JUNK_LINES[i % JUNK_LINES.length]}\n`, 'latin1'));
        }
        break;
      case 'silent':
        this.silentUntil = performance.now() + f.ms;
        break;
      case 'unplug':
        void this.unplug(f.ms);
        break;
      case 'clear':
        this.vendFaults = [];
        this.silentUntil = 0;
        break;
    }
    this.emit('fault', f);
  }

  /** Closes the port for `ms`, then reopens it. */
  unplug(ms: number): Promise<void> {
    return this.port.unplug(ms);
  }

  // ---- transport ------------------------------------------------------------------

  private checkHostSilence(): void {
    if (!this.port.isRunning || !this.transport.isOpen) return;
    if (this.port.hostSilentFor(this.opts.reopenOnHostSilenceMs)) {
      this.port.hostHeard();
      this.emit('port-closed', 'host silent');
      void this.port.closeQuietly().then(() => this.port.scheduleReopen(0));
    }
  }

  private isSilent(): boolean {
    return this.silentUntil > performance.now();
  }

  private send(msg: AdapterMessage): void {
    this.writeRaw(encodeAdapterMessage(msg));
  }

  private writeRaw(bytes: Uint8Array): void {
    if (!this.transport.isOpen || this.isSilent()) return;
    this.transport.write(bytes);
  }

  private receive(chunk: Buffer): void {
    if (this.isSilent()) return;
    this.port.hostHeard();
    this.decoder.feed(chunk, this.onCommand);
  }

  // ---- adapter: host commands ---------------------------------------------------------

  private moneyCfg() {
    const scale = Number(this.config.get('mdb-scale-factor') ?? '1');
    const dp = Number(this.config.get('mdb-decimal-places') ?? '2');
    return {
      scaleFactor: Number.isInteger(scale) && scale > 0 ? scale : 1,
      decimalPlaces: Number.isInteger(dp) && dp >= 0 ? dp : 2,
      priceFormat: this.opts.priceFormat,
    };
  }

  private readonly onCommand = (c: HostCommand): void => {
    this.stats.linesIn++;
    this.emit('host', c);
    switch (c.type) {
      case 'version':
        this.send({ type: 'version', text: this.opts.firmware });
        return;
      case 'enable':
        this.send({ type: 'ack' });
        this.enableSlave();
        return;
      case 'disable':
        this.send({ type: 'ack' });
        this.disableSlave();
        return;
      case 'setconf':
        if (this.slaveEnabled) {
          this.send({ type: 'nack', reason: 'disable the cashless slave first (C,0)' });
          return;
        }
        this.config.set(c.key, c.value);
        this.send({ type: 'ack' });
        return;
      case 'approve':
        this.onApprove(c.amount);
        return;
      case 'deny':
        this.send({ type: 'ack' });
        this.onDeny();
        return;
      case 'begin-session':
        this.onBeginSession(c.funds);
        return;
      case 'deny-vend':
        this.onDenyVend();
        return;
      case 'unknown':
        this.stats.unknownLines++;
        this.send({ type: 'nack', reason: 'unknown command' });
        return;
    }
  };

  private enableSlave(): void {
    if (this.slaveEnabled) return;
    this.slaveEnabled = true;
    this.setState('INACTIVE');
    if (this.enableTimer) clearTimeout(this.enableTimer);
    // The machine finds the reader, sets it up (DISABLED), then enables it.
    this.enableTimer = setTimeout(() => {
      this.setState('DISABLED');
      this.enableTimer = setTimeout(() => {
        this.enableTimer = null;
        if (this.slaveEnabled) this.setState('ENABLED');
      }, this.opts.enableDelayMs);
    }, this.opts.enableDelayMs);
  }

  private disableSlave(): void {
    if (this.enableTimer) clearTimeout(this.enableTimer);
    this.enableTimer = null;
    const p = this.pending;
    if (this.funded && p?.state !== 'vending') {
      if (p) {
        this.stats.cancels++;
        this.finish(p, { outcome: 'cancelled', reason: 'reader disabled' });
        this.emit('cancelled', { session: p.session, item: p.item, reason: 'reader disabled' });
      }
      this.closeFunded('reader disabled');
    } else if (p?.state === 'requested') {
      // The reader vanished from the bus: the machine gives up the request.
      this.stats.cancels++;
      this.finish(p, { outcome: 'cancelled', reason: 'reader disabled' });
      this.emit('cancelled', { session: p.session, item: p.item, reason: 'reader disabled' });
    }
    if (!this.slaveEnabled) return;
    this.slaveEnabled = false;
    this.setState('INACTIVE');
  }

  private setState(state: 'INACTIVE' | 'DISABLED' | 'ENABLED'): void {
    this.readerState = state;
    this.emit('status', state);
    this.send({ type: 'status', state });
  }

  private onApprove(amount: string): void {
    const p = this.pending;
    if (p?.state !== 'requested') {
      this.send({ type: 'nack', reason: 'no vend request pending' });
      return;
    }
    const scaled = lineToScaled(amount, this.moneyCfg());
    if (scaled === null) {
      this.send({ type: 'nack', reason: 'amount not in price units' });
      return;
    }
    if (scaled > p.price) {
      this.send({ type: 'nack', reason: 'amount exceeds the price' });
      return;
    }
    if (this.funded && scaled > this.funded.funds) {
      this.send({ type: 'nack', reason: 'amount exceeds the session funds' });
      return;
    }
    this.send({ type: 'ack' });
    if (p.timer) clearTimeout(p.timer);
    p.timer = null;
    p.state = 'vending';
    p.amount = amount;
    this.emit('approved', { session: p.session, item: p.item, amount });
    const done = () => {
      p.timer = null;
      if (this.pending !== p) return;
      const fault = this.vendFaults[0];
      if (fault) {
        if (--fault.remaining <= 0) this.vendFaults.shift();
        const reason = fault.style === 'err' ? 'VEND 3' : 'motor did not turn';
        this.stats.failures++;
        this.finish(p, { outcome: 'vend-fail', amount, reason });
        this.emit('vend-fail', { session: p.session, item: p.item, amount, reason });
        if (fault.style === 'err') this.writeRaw(Buffer.from('c,ERR,VEND 3\n'));
        else this.send({ type: 'vend-fail', item: p.item, reason });
      } else {
        this.stats.vends++;
        this.finish(p, { outcome: 'vend-success', amount });
        this.emit('vend-success', { session: p.session, item: p.item, amount });
        this.send({ type: 'vend-success', item: p.item });
      }
      // One vend per session with funds (our choice): the machine completes the session.
      if (this.funded) this.closeFunded('vended');
      this.backToIdle();
    };
    p.timer = setTimeout(done, this.opts.vendMs);
  }

  /** `C,START,<funds>`: a session with funds, only while the machine has the reader enabled and idle. */
  private onBeginSession(fundsLine: string): void {
    if (!this.slaveEnabled || this.readerState !== 'ENABLED') {
      this.send({ type: 'nack', reason: `reader is ${this.readerState}` });
      return;
    }
    if (this.pending || this.funded) {
      this.send({ type: 'nack', reason: 'a session is already open' });
      return;
    }
    const funds = lineToScaled(fundsLine, this.moneyCfg());
    if (funds === null || funds <= 0) {
      this.send({ type: 'nack', reason: 'funds not in price units' });
      return;
    }
    this.send({ type: 'ack' });
    const session = ++this.sessionNo;
    this.stats.sessions++;
    const f = { session, funds, timer: null as NodeJS.Timeout | null };
    this.funded = f;
    this.armSessionTimer();
    this.emit('session-begun', { session, funds, line: fundsLine });
    // MDB BEGIN SESSION: the reader is now in "session idle".
    this.send({ type: 'status', state: 'IDLE' });
    this.emit('status', 'IDLE');
  }

  private armSessionTimer(): void {
    const f = this.funded;
    if (!f) return;
    if (f.timer) clearTimeout(f.timer);
    f.timer = setTimeout(() => {
      f.timer = null;
      if (this.funded === f) this.sessionTimeout();
    }, this.opts.sessionTimeoutMs);
  }

  /** `C,VEND,-1`: deny the pending request inside a session with funds; the session stays open. */
  private onDenyVend(): void {
    const p = this.pending;
    if (!this.funded || p?.state !== 'requested') {
      this.send({ type: 'nack', reason: 'no vend request pending in a session with funds' });
      return;
    }
    this.send({ type: 'ack' });
    this.stats.denials++;
    this.finish(p, { outcome: 'denied' });
    this.emit('denied', { session: p.session, item: p.item });
    this.armSessionTimer();
    this.send({ type: 'status', state: 'IDLE' });
    this.emit('status', 'IDLE');
  }

  /** Ends the session with funds and reports the reader back to idle, then enabled. */
  private endFunded(reason: string): void {
    if (!this.funded) return;
    this.closeFunded(reason);
    this.backToIdle();
  }

  private closeFunded(reason: string): void {
    const f = this.funded;
    if (!f) return;
    if (f.timer) clearTimeout(f.timer);
    this.funded = null;
    const record: MdbSessionRecord = {
      session: f.session,
      item: 0,
      price: 0,
      funds: f.funds,
      outcome: 'session-ended',
      reason,
      at: new Date().toISOString(),
    };
    this.opts.onOutcome?.(record);
    this.emit('outcome', record);
    this.emit('session-ended', { session: f.session, funds: f.funds, reason });
  }

  private onDeny(): void {
    if (this.funded) {
      // C,STOP in a session with funds: deny what is pending and end the session.
      const p = this.pending;
      if (p?.state === 'vending') return;
      if (p) {
        this.stats.denials++;
        this.finish(p, { outcome: 'denied' });
        this.emit('denied', { session: p.session, item: p.item });
      }
      this.endFunded('host');
      return;
    }
    const p = this.pending;
    if (p?.state !== 'requested') return; // nothing to deny: acknowledged, harmless
    this.stats.denials++;
    this.finish(p, { outcome: 'denied' });
    this.emit('denied', { session: p.session, item: p.item });
    this.backToIdle();
  }

  /** Section 4.2: after a session the reader reports IDLE, then ENABLED (always-idle). */
  private backToIdle(): void {
    if (!this.slaveEnabled) return;
    this.send({ type: 'status', state: 'IDLE' });
    this.emit('status', 'IDLE');
    this.setState('ENABLED');
  }

  private finish(p: Pending, r: Pick<MdbSessionRecord, 'outcome' | 'amount' | 'reason'>): void {
    if (p.timer) clearTimeout(p.timer);
    p.timer = null;
    if (this.pending === p) this.pending = null;
    if (this.readerState === 'VEND') this.readerState = this.slaveEnabled ? 'ENABLED' : 'INACTIVE';
    const funds = this.funded?.session === p.session ? this.funded.funds : undefined;
    const record: MdbSessionRecord = {
      session: p.session,
      item: p.item,
      price: p.price,
      outcome: r.outcome,
      ...(r.amount === undefined ? {} : { amount: r.amount }),
      ...(r.reason === undefined ? {} : { reason: r.reason }),
      ...(funds === undefined ? {} : { funds }),
      at: new Date().toISOString(),
    };
    this.opts.onOutcome?.(record);
    this.emit('outcome', record);
  }
}
