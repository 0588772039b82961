/**
 * Driver for VSB slot controller boards (docs/protocols/slot-board.md),
 * implementing the VendingMachine domain port.
 *
 * - Full duplex: commands go out as soon as the link is free, never waiting
 *   for a POLL (section 4).
 * - Stop-and-wait per direction: one unacknowledged frame in flight, resent
 *   after `ackTimeoutMs` up to `maxResends` times (section 4.2).
 * - Incoming frames are ACKed quoting their seq and deduped (section 4.3).
 * - Vends are serialised per machine: one DISPENSE in flight at a time, the
 *   next goes out as soon as the previous DISPENSE_RESULT arrives.
 * - Link health: any valid frame marks the board online; no frame for
 *   `silenceTimeoutMs` (POLL every ~200 ms), a port close or error marks it
 *   offline, closes the port and reopens it (through the factory, so a pty
 *   that reappeared at the same path is picked up) with capped exponential
 *   backoff until stop().
 */
import { EventEmitter } from 'node:events';
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import { type Log, namespaced, silentLogger } from '../../../core/log.ts';
import type {
  DispenseRequest,
  VendFailureReason,
  VendingMachine,
  VendingMachineEvents,
  VendOutcome,
  VendQueryResult,
} from '../port.ts';
import { PortSupervisor } from '../port-supervisor.ts';
import { createTransport, type TransportFactory, type TransportOptions } from '../transport.ts';
import { ACK_FRAMES, Command, encodeFrame, type Frame, FrameDecoder } from './codec.ts';
import {
  DispenseMessage,
  DispenseProgressMessage,
  DispenseResultMessage,
  InfoMessage,
  ProgressStage,
  parseMessage,
  QueryVendMessage,
  RESULT_NAMES,
  ResultCode,
  VendState,
  VendStatusMessage,
} from './messages.ts';

export interface SlotBoardDriverOptions {
  machineId: string;
  /** `/dev/ttyUSB0`, a pty path, or `tcp://host:port`. */
  url: string;
  /** Seam for tests; default createTransport (serialport / node:net). */
  transportFactory?: TransportFactory;
  transportOptions?: TransportOptions;
  /** Root logger; the driver logs under `vending:<machineId>`. */
  log?: Log;
  /** Default 100 ms (section 4.2). */
  ackTimeoutMs?: number;
  /** Default 5 (section 4.2). */
  maxResends?: number;
  /** Offline after this long without any frame from the board. Default 1500 ms. */
  silenceTimeoutMs?: number;
  /** Wait for DISPENSE_RESULT after the DISPENSE was acknowledged. Default 30 s. */
  dispenseTimeoutMs?: number;
  /** Wait for VEND_STATUS / INFO after the request was acknowledged. Default 1000 ms. */
  requestTimeoutMs?: number;
  /** Reopen backoff: first delay, doubled per failed attempt, capped. Default 100 ms -> 5000 ms. */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /**
   * Called with every DISPENSE_RESULT the board reports, including late ones
   * for vends no longer awaited (e.g. after a DeviceOffline rejection).
   */
  onOutcome?: (outcome: VendOutcome) => void;
}

export interface SlotBoardInfo {
  protocolVersion: number;
  slotCount: number;
  firmware: string;
}

export interface SlotBoardDriverStats {
  framesIn: number;
  framesOut: number;
  resends: number;
  duplicates: number;
  ackFailures: number;
  invalidFrames: number;
  reconnects: number;
}

interface OutFrame {
  command: number;
  payload: Uint8Array;
  seq: number;
  frame: Buffer | null;
  attempts: number;
  onAck: (() => void) | null;
  onFail: ((err: VendgateError) => void) | null;
}

interface VendJob {
  vendToken: number;
  slot: number;
  sent: boolean;
  acked: boolean;
  timer: NodeJS.Timeout | null;
  promise: Promise<VendOutcome>;
  resolve: (o: VendOutcome) => void;
  reject: (e: VendgateError) => void;
}

interface Waiter<T> {
  settled: boolean;
  timer: NodeJS.Timeout | null;
  resolve: (v: T) => void;
  reject: (e: VendgateError) => void;
}

/** Section 3.8 result code -> domain failure reason. */
export function failureReason(result: number): { reason: VendFailureReason; detail?: string } {
  switch (result) {
    case ResultCode.Jammed:
      return { reason: 'jammed' };
    case ResultCode.MotorDidNotStop:
      return { reason: 'motor-fault', detail: 'motor did not stop' };
    case ResultCode.NoMotor:
      return { reason: 'motor-fault', detail: 'no motor' };
    case ResultCode.DropSensorMiss:
      return { reason: 'drop-sensor-miss' };
    case ResultCode.EmptySlot:
      return { reason: 'empty-slot' };
    case ResultCode.UnknownSlot:
      return { reason: 'unknown-slot' };
    case ResultCode.Busy:
      return { reason: 'busy' };
    default:
      return {
        reason: 'other',
        detail: RESULT_NAMES[result] ?? `board result code 0x${result.toString(16)}`,
      };
  }
}

function toOutcome(vendToken: number, slot: number, result: number): VendOutcome {
  if (result === ResultCode.Success) return { kind: 'dispensed', vendToken, slot };
  const { reason, detail } = failureReason(result);
  return detail === undefined
    ? { kind: 'failed', vendToken, slot, reason }
    : { kind: 'failed', vendToken, slot, reason, detail };
}

export class SlotBoardDriver extends EventEmitter<VendingMachineEvents> implements VendingMachine {
  readonly machineId: string;
  readonly url: string;
  readonly stats: SlotBoardDriverStats = {
    framesIn: 0,
    framesOut: 0,
    resends: 0,
    duplicates: 0,
    ackFailures: 0,
    invalidFrames: 0,
    reconnects: 0,
  };
  readonly decoder = new FrameDecoder();

  private readonly log: Log;
  private readonly port: PortSupervisor;
  private readonly ackTimeoutMs: number;
  private readonly maxResends: number;
  private readonly silenceTimeoutMs: number;
  private readonly dispenseTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly onOutcome: ((outcome: VendOutcome) => void) | undefined;

  private lastRxAt = 0;
  private silenceTimer: NodeJS.Timeout | null = null;

  private txSeq = 0;
  private readonly txQueue: OutFrame[] = [];
  private inflight: OutFrame | null = null;
  private ackTimer: NodeJS.Timeout | null = null;
  private outBufs: Buffer[] = [];
  private flushScheduled = false;

  private lastRxSeq = -1;
  private lastRxCmd = -1;
  private lastRxCk = -1;

  private readonly vends = new Map<number, VendJob>();
  private readonly vendQueue: VendJob[] = [];
  private activeVend: VendJob | null = null;
  private readonly queries = new Map<number, Waiter<VendQueryResult>[]>();
  private infoWaiters: Waiter<SlotBoardInfo>[] = [];

  constructor(opts: SlotBoardDriverOptions) {
    super();
    this.machineId = opts.machineId;
    this.url = opts.url;
    this.log = namespaced(opts.log ?? silentLogger(), `vending:${opts.machineId}`);
    this.port = new PortSupervisor({
      url: opts.url,
      factory: opts.transportFactory ?? createTransport,
      transportOptions: opts.transportOptions ?? {},
      log: this.log,
      reconnectInitialMs: opts.reconnectInitialMs ?? 100,
      reconnectMaxMs: opts.reconnectMaxMs ?? 5000,
      onData: (chunk) => this.decoder.feed(chunk, this.onFrame),
      onOpen: () => {
        this.decoder.reset();
        this.lastRxAt = performance.now();
      },
      onLost: (reason) => {
        this.outBufs = [];
        this.port.setOffline(reason);
        this.failAll(this.offlineError(reason));
      },
      onReconnect: () => {
        this.stats.reconnects++;
      },
      onOnline: () => this.emit('online'),
      onOffline: (reason) => this.emit('offline', reason),
    });
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 100;
    this.maxResends = opts.maxResends ?? 5;
    this.silenceTimeoutMs = opts.silenceTimeoutMs ?? 1500;
    this.dispenseTimeoutMs = opts.dispenseTimeoutMs ?? 30_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 1000;
    this.onOutcome = opts.onOutcome;
  }

  get online(): boolean {
    return this.port.isOnline;
  }

  /** True while a transport is open (the board may still be silent). */
  get portOpen(): boolean {
    return this.port.isOpen;
  }

  private get connected(): boolean {
    return this.port.isOpen;
  }

  /**
   * Opens the transport and starts the driver. Resolves once the first open
   * attempt finished: if it failed, the driver keeps reopening in the
   * background with backoff (online stays false) until stop().
   */
  async start(): Promise<void> {
    if (this.port.isRunning) return;
    const tick = Math.max(10, Math.floor(this.silenceTimeoutMs / 5));
    this.silenceTimer = setInterval(() => this.checkSilence(), tick);
    await this.port.start();
  }

  async stop(): Promise<void> {
    if (!this.port.isRunning) return;
    this.port.halt();
    if (this.silenceTimer) clearInterval(this.silenceTimer);
    this.silenceTimer = null;
    this.failAll(this.offlineError('driver stopped'));
    await this.port.close();
    this.port.setOffline('stopped');
  }

  dispense(req: DispenseRequest): Promise<VendOutcome> {
    const { vendToken, slot } = req;
    if (!Number.isInteger(vendToken) || vendToken < 1 || vendToken > 0xffffffff) {
      return Promise.reject(
        new VendgateError(ErrorCode.DeviceProtocol, 'vendToken must be an integer 1..2^32-1', { vendToken }),
      );
    }
    if (!Number.isInteger(slot) || slot < 0 || slot > 0xff) {
      return Promise.reject(
        new VendgateError(ErrorCode.DeviceProtocol, 'slot must be an integer 0..255', { slot }),
      );
    }
    const existing = this.vends.get(vendToken);
    if (existing) return existing.promise;
    if (!this.connected) {
      return Promise.reject(this.offlineError('port not open', { vendToken, slot, sent: false }));
    }
    let resolve!: (o: VendOutcome) => void;
    let reject!: (e: VendgateError) => void;
    const promise = new Promise<VendOutcome>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const job: VendJob = {
      vendToken,
      slot,
      sent: false,
      acked: false,
      timer: null,
      promise,
      resolve,
      reject,
    };
    this.vends.set(vendToken, job);
    this.vendQueue.push(job);
    this.pumpVends();
    return promise;
  }

  queryVend(vendToken: number): Promise<VendQueryResult> {
    if (!Number.isInteger(vendToken) || vendToken < 0 || vendToken > 0xffffffff) {
      return Promise.reject(
        new VendgateError(ErrorCode.DeviceProtocol, 'vendToken must be a u32', { vendToken }),
      );
    }
    if (!this.connected) return Promise.reject(this.offlineError('port not open', { vendToken }));
    return new Promise<VendQueryResult>((resolve, reject) => {
      const w: Waiter<VendQueryResult> = { settled: false, timer: null, resolve, reject };
      let list = this.queries.get(vendToken);
      if (!list) {
        list = [];
        this.queries.set(vendToken, list);
      }
      list.push(w);
      this.enqueue(Command.QueryVend, new QueryVendMessage(vendToken).payload(), {
        onAck: () => this.armWaiter(w, 'VEND_STATUS', { vendToken }, () => this.dropQuery(vendToken, w)),
        onFail: (err) => {
          this.dropQuery(vendToken, w);
          this.settleReject(w, err);
        },
      });
    });
  }

  /** Asks the board for its protocol version, slot count and firmware (GET_INFO, section 3.5). */
  info(): Promise<SlotBoardInfo> {
    if (!this.connected) return Promise.reject(this.offlineError('port not open'));
    return new Promise<SlotBoardInfo>((resolve, reject) => {
      const w: Waiter<SlotBoardInfo> = { settled: false, timer: null, resolve, reject };
      this.infoWaiters.push(w);
      const drop = () => {
        this.infoWaiters = this.infoWaiters.filter((x) => x !== w);
      };
      this.enqueue(Command.GetInfo, new Uint8Array(0), {
        onAck: () => this.armWaiter(w, 'INFO', {}, drop),
        onFail: (err) => {
          drop();
          this.settleReject(w, err);
        },
      });
    });
  }

  // ---- connection management -------------------------------------------------

  private checkSilence(): void {
    if (this.connected && performance.now() - this.lastRxAt > this.silenceTimeoutMs) {
      this.port.lose(`silence: no frame from the board for ${this.silenceTimeoutMs} ms`);
    }
  }

  private offlineError(reason: string, context: Record<string, unknown> = {}): VendgateError {
    return new VendgateError(ErrorCode.DeviceOffline, `machine ${this.machineId} offline: ${reason}`, {
      machineId: this.machineId,
      ...context,
    });
  }

  private timeoutError(what: string, context: Record<string, unknown> = {}): VendgateError {
    return new VendgateError(ErrorCode.DeviceTimeout, `machine ${this.machineId}: ${what}`, {
      machineId: this.machineId,
      ...context,
    });
  }

  private failAll(err: VendgateError): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    const frames = this.inflight ? [this.inflight, ...this.txQueue] : [...this.txQueue];
    this.inflight = null;
    this.txQueue.length = 0;
    for (const f of frames) f.onFail?.(err);
    for (const job of [...this.vends.values()]) {
      this.finishVend(
        job,
        null,
        new VendgateError(err.code, err.message, {
          ...err.context,
          vendToken: job.vendToken,
          slot: job.slot,
          sent: job.sent,
        }),
      );
    }
    for (const [, list] of this.queries) for (const w of list) this.settleReject(w, err);
    this.queries.clear();
    for (const w of this.infoWaiters) this.settleReject(w, err);
    this.infoWaiters = [];
  }

  // ---- send side ---------------------------------------------------------------

  private enqueue(
    command: number,
    payload: Uint8Array,
    cb: { onAck?: () => void; onFail?: (err: VendgateError) => void } = {},
  ): void {
    this.txQueue.push({
      command,
      payload,
      seq: 0,
      frame: null,
      attempts: 0,
      onAck: cb.onAck ?? null,
      onFail: cb.onFail ?? null,
    });
    this.pumpTx();
  }

  private pumpTx(): void {
    if (this.inflight || this.txQueue.length === 0 || !this.connected) return;
    const f = this.txQueue.shift()!;
    this.txSeq = (this.txSeq % 255) + 1; // 1..255; 0 is reserved for POLL (section 4.1)
    f.seq = this.txSeq;
    f.frame = encodeFrame(f.command, f.seq, f.payload);
    this.inflight = f;
    this.transmit(f);
  }

  private transmit(f: OutFrame): void {
    f.attempts++;
    if (f.attempts > 1) this.stats.resends++;
    this.stats.framesOut++;
    this.write(f.frame!);
    this.ackTimer = setTimeout(this.onAckTimeout, this.ackTimeoutMs);
  }

  /**
   * Frames produced in the same run of code and its ticks (an ACK and the
   * next DISPENSE, the ACKs of every frame in one chunk) go out in one
   * write: one syscall and one read on the far side instead of several. The
   * flush is a process.nextTick, not a setImmediate, so a DISPENSE leaves
   * right after the commit that allowed it, before the other work of the
   * same turn (publishing events, broker routing).
   */
  private write(frame: Buffer): void {
    this.outBufs.push(frame);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const bufs = this.outBufs;
    if (bufs.length === 0) return;
    this.outBufs = [];
    this.port.write(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs));
  };

  private readonly onAckTimeout = (): void => {
    this.ackTimer = null;
    const f = this.inflight;
    if (!f) return;
    if (f.attempts <= this.maxResends) {
      this.transmit(f);
      return;
    }
    this.stats.ackFailures++;
    this.inflight = null;
    this.log.warn({ command: f.command, seq: f.seq, attempts: f.attempts }, 'frame not acknowledged');
    f.onFail?.(
      this.timeoutError(`no ACK after ${f.attempts} attempts`, {
        command: f.command,
        seq: f.seq,
        attempts: f.attempts,
      }),
    );
    this.pumpTx();
  };

  // ---- receive side ------------------------------------------------------------

  private readonly onFrame = (f: Frame): void => {
    this.stats.framesIn++;
    this.lastRxAt = performance.now();
    this.port.setOnline();
    const cmd = f.command;
    if (cmd === Command.Ack) {
      const inflight = this.inflight;
      if (inflight && f.seq === inflight.seq) {
        if (this.ackTimer) clearTimeout(this.ackTimer);
        this.ackTimer = null;
        this.inflight = null;
        inflight.onAck?.();
        this.pumpTx();
      }
      return;
    }
    this.write(ACK_FRAMES[f.seq]!);
    if (cmd === Command.Poll) return; // POLL is never resent and never deduped (section 4.1)
    if (f.seq === this.lastRxSeq && cmd === this.lastRxCmd && f.checksum === this.lastRxCk) {
      this.stats.duplicates++;
      return;
    }
    this.lastRxSeq = f.seq;
    this.lastRxCmd = cmd;
    this.lastRxCk = f.checksum;
    let msg: ReturnType<typeof parseMessage>;
    try {
      msg = parseMessage(f);
    } catch (err) {
      this.stats.invalidFrames++;
      this.log.warn({ err: (err as Error).message, command: cmd }, 'invalid frame');
      return;
    }
    if (msg instanceof DispenseResultMessage) this.onResult(msg);
    else if (msg instanceof DispenseProgressMessage) this.onProgress(msg);
    else if (msg instanceof VendStatusMessage) this.onVendStatus(msg);
    else if (msg instanceof InfoMessage) this.onInfo(msg);
    else if (msg instanceof DispenseMessage || msg === undefined) {
      this.log.debug({ command: cmd }, 'unexpected frame ignored');
    }
  };

  private onResult(m: DispenseResultMessage): void {
    const outcome = toOutcome(m.vendToken, m.slot, m.result);
    this.onOutcome?.(outcome);
    const job = this.vends.get(m.vendToken);
    if (job) this.finishVend(job, outcome, null);
    else this.log.info({ vendToken: m.vendToken, outcome: outcome.kind }, 'outcome for a vend not awaited');
  }

  private onProgress(m: DispenseProgressMessage): void {
    const stage = m.stage === ProgressStage.Accepted ? 'accepted' : 'dispensing';
    const job = this.vends.get(m.vendToken);
    if (job) job.acked = true;
    this.emit('progress', m.vendToken, stage);
  }

  private onVendStatus(m: VendStatusMessage): void {
    const list = this.queries.get(m.vendToken);
    if (!list) return;
    this.queries.delete(m.vendToken);
    let r: VendQueryResult;
    switch (m.state) {
      case VendState.NeverSeen:
        r = { kind: 'never-seen', vendToken: m.vendToken };
        break;
      case VendState.InProgress:
        r = { kind: 'in-progress', vendToken: m.vendToken };
        break;
      case VendState.Dispensed:
        r = { kind: 'dispensed', vendToken: m.vendToken, slot: m.slot };
        break;
      default:
        r = toOutcome(m.vendToken, m.slot, m.result === ResultCode.Success ? 0xff : m.result);
    }
    for (const w of list) this.settleResolve(w, r);
  }

  private onInfo(m: InfoMessage): void {
    const list = this.infoWaiters;
    this.infoWaiters = [];
    const info = { protocolVersion: m.protocolVersion, slotCount: m.slotCount, firmware: m.firmware };
    for (const w of list) this.settleResolve(w, info);
  }

  // ---- vends -------------------------------------------------------------------

  private pumpVends(): void {
    while (!this.activeVend && this.vendQueue.length > 0) {
      const job = this.vendQueue.shift()!;
      if (!this.vends.has(job.vendToken)) continue; // already settled (e.g. failed while queued)
      this.activeVend = job;
      job.sent = true;
      this.enqueue(Command.Dispense, new DispenseMessage(job.vendToken, job.slot).payload(), {
        onAck: () => {
          if (this.vends.get(job.vendToken) !== job) return;
          job.acked = true;
          job.timer = setTimeout(() => {
            job.timer = null;
            this.finishVend(
              job,
              null,
              this.timeoutError(`no DISPENSE_RESULT within ${this.dispenseTimeoutMs} ms`, {
                vendToken: job.vendToken,
                slot: job.slot,
                sent: true,
              }),
            );
          }, this.dispenseTimeoutMs);
        },
        onFail: (err) => {
          if (this.vends.get(job.vendToken) !== job) return;
          this.finishVend(
            job,
            null,
            new VendgateError(err.code, err.message, {
              ...err.context,
              vendToken: job.vendToken,
              slot: job.slot,
              sent: true,
            }),
          );
        },
      });
    }
  }

  private finishVend(job: VendJob, outcome: VendOutcome | null, err: VendgateError | null): void {
    if (this.vends.get(job.vendToken) !== job) return;
    this.vends.delete(job.vendToken);
    if (job.timer) clearTimeout(job.timer);
    job.timer = null;
    if (this.activeVend === job) this.activeVend = null;
    if (outcome) job.resolve(outcome);
    else job.reject(err!);
    this.pumpVends();
  }

  // ---- waiters -----------------------------------------------------------------

  private armWaiter<T>(w: Waiter<T>, what: string, context: Record<string, unknown>, drop: () => void): void {
    if (w.settled) return;
    w.timer = setTimeout(() => {
      drop();
      this.settleReject(w, this.timeoutError(`no ${what} within ${this.requestTimeoutMs} ms`, context));
    }, this.requestTimeoutMs);
  }

  private dropQuery(vendToken: number, w: Waiter<VendQueryResult>): void {
    const list = this.queries.get(vendToken);
    if (!list) return;
    const rest = list.filter((x) => x !== w);
    if (rest.length) this.queries.set(vendToken, rest);
    else this.queries.delete(vendToken);
  }

  private settleResolve<T>(w: Waiter<T>, v: T): void {
    if (w.settled) return;
    w.settled = true;
    if (w.timer) clearTimeout(w.timer);
    w.resolve(v);
  }

  private settleReject<T>(w: Waiter<T>, e: VendgateError): void {
    if (w.settled) return;
    w.settled = true;
    if (w.timer) clearTimeout(w.timer);
    w.reject(e);
  }
}
