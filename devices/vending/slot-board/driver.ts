/**
 * Driver for VSB slot controller boards (docs/protocols/slot-board.md),
 * implementing the VendingMachine domain port. It wires the layers and owns
 * link health:
 *
 * - link.ts: sequence numbers, ACK / resend, duplicate suppression and
 *   coalesced writes (section 4). Full duplex: commands go out as soon as
 *   the link is free, never waiting for a POLL.
 * - vend-jobs.ts: DISPENSE, one per machine at a time (section 6).
 * - queries.ts: QUERY_VEND and GET_INFO (sections 3.4, 3.5).
 * - board-telemetry.ts: protocol 3 door and temperature (SENSORS, asked
 *   for at every online), sensed stock (GET_STOCK) and RESET (sections
 *   3.10 to 3.14). A board before protocol 3 ignores those frames, so the
 *   driver asks INFO before readStock() or reset() and refuses with
 *   TelemetryUnsupported rather than wait for an answer that never comes.
 * - Board identity, here: the boot epoch the board reports in POLL, in the
 *   ACK of a DISPENSE, in VEND_STATUS and INFO (section 6.1). A new value
 *   means the board restarted: logged, `restarted` emitted, the vend in
 *   flight failed with DeviceRestarted, the link's dedupe memory cleared.
 * - Link health, here: any valid frame marks the board online; no frame for
 *   `silenceTimeoutMs` (POLL every ~200 ms), a port close or error marks it
 *   offline, fails everything pending with DeviceOffline, closes the port
 *   and reopens it (through the factory, so a pty that reappeared at the
 *   same path is picked up) with capped exponential backoff until stop().
 */
import { EventEmitter } from 'node:events';
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import { type Log, namespaced, silentLogger } from '../../../core/log.ts';
import type {
  DispenseRequest,
  MachineSensors,
  SensedStock,
  VendingMachine,
  VendingMachineEvents,
  VendOutcome,
  VendQueryResult,
} from '../port.ts';
import { PortSupervisor } from '../port-supervisor.ts';
import { createTransport, type TransportFactory, type TransportOptions } from '../transport.ts';
import { BoardTelemetry } from './board-telemetry.ts';
import { Command, type Frame, FrameDecoder } from './codec.ts';
import { SlotBoardLink } from './link.ts';
import {
  DispenseMessage,
  DispenseProgressMessage,
  DispenseResultMessage,
  InfoMessage,
  PollMessage,
  parseMessage,
  SensorsMessage,
  StockMessage,
  VendStatusMessage,
} from './messages.ts';
import { BoardQueries, type SlotBoardInfo } from './queries.ts';
import { VendJobs } from './vend-jobs.ts';

export type { SlotBoardInfo } from './queries.ts';
export { failureReason } from './vend-jobs.ts';

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
  /** reset(): the board must be back with a new boot epoch within this. Default 15 s. */
  resetTimeoutMs?: number;
  /**
   * Called with every DISPENSE_RESULT the board reports, including late ones
   * for vends no longer awaited (e.g. after a DeviceOffline rejection).
   */
  onOutcome?: (outcome: VendOutcome) => void;
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
  private readonly link: SlotBoardLink;
  private readonly vends: VendJobs;
  private readonly queries: BoardQueries;
  private readonly silenceTimeoutMs: number;
  private lastRxAt = 0;
  private epoch: number | undefined;
  private silenceTimer: NodeJS.Timeout | null = null;
  private readonly telemetry: BoardTelemetry;
  private readonly resetTimeoutMs: number;
  /** From the last INFO of this boot; forgotten on a restart (a reflashed board may speak another). */
  private protocolVersion: number | undefined;
  /** reset() calls waiting for the board to be online with a boot epoch other than `before`. */
  private readonly resetWaiters = new Set<{
    before: number | undefined;
    done: (err: VendgateError | null) => void;
  }>();

  constructor(opts: SlotBoardDriverOptions) {
    super();
    this.machineId = opts.machineId;
    this.url = opts.url;
    this.log = namespaced(opts.log ?? silentLogger(), `vending:${opts.machineId}`);
    this.silenceTimeoutMs = opts.silenceTimeoutMs ?? 1500;
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
        this.port.setOffline(reason);
        this.failAll(this.link.offlineError(reason), true);
      },
      onReconnect: () => {
        this.stats.reconnects++;
      },
      onOnline: () => {
        this.emit('online');
        this.telemetry.requestSensors();
        // A reset() whose board went offline while it rebooted: back, and with a new boot.
        this.checkResets();
      },
      onOffline: (reason) => this.emit('offline', reason),
    });
    this.link = new SlotBoardLink({
      machineId: opts.machineId,
      log: this.log,
      ackTimeoutMs: opts.ackTimeoutMs ?? 100,
      maxResends: opts.maxResends ?? 5,
      stats: this.stats,
      write: (bytes) => {
        this.port.write(bytes);
      },
      isOpen: () => this.port.isOpen,
    });
    this.vends = new VendJobs({
      machineId: opts.machineId,
      log: this.log,
      link: this.link,
      dispenseTimeoutMs: opts.dispenseTimeoutMs ?? 30_000,
      bootEpoch: () => this.epoch,
      onBootEpoch: this.noteBootEpoch,
      onOutcome: opts.onOutcome,
      onProgress: (vendToken, stage) => this.emit('progress', vendToken, stage),
    });
    this.queries = new BoardQueries({
      machineId: opts.machineId,
      link: this.link,
      requestTimeoutMs: opts.requestTimeoutMs ?? 1000,
      onBootEpoch: this.noteBootEpoch,
    });
    this.resetTimeoutMs = opts.resetTimeoutMs ?? 15_000;
    this.telemetry = new BoardTelemetry({
      machineId: opts.machineId,
      link: this.link,
      requestTimeoutMs: opts.requestTimeoutMs ?? 1000,
      onSensors: (reading) => this.emit('sensors', reading),
    });
  }

  /** The door and temperature the board last reported (protocol 3); undefined before any report. */
  get sensors(): MachineSensors | undefined {
    return this.telemetry.sensors;
  }

  /** The board's boot epoch as last reported (section 6.1); undefined until it reported one. */
  get bootEpoch(): number | undefined {
    return this.epoch;
  }

  get online(): boolean {
    return this.port.isOnline;
  }

  /** True while a transport is open (the board may still be silent). */
  get portOpen(): boolean {
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
    this.failAll(this.link.offlineError('driver stopped'), false);
    for (const w of [...this.resetWaiters]) w.done(this.link.offlineError('driver stopped'));
    await this.port.close();
    this.port.setOffline('stopped');
  }

  dispense(req: DispenseRequest): Promise<VendOutcome> {
    return this.vends.dispense(req.vendToken, req.slot);
  }

  queryVend(vendToken: number): Promise<VendQueryResult> {
    return this.queries.queryVend(vendToken);
  }

  /** Asks the board for its protocol version, slot count and firmware (GET_INFO, section 3.5). */
  info(): Promise<SlotBoardInfo> {
    return this.queries.info();
  }

  /** Sections 3.11, 3.14: the levels the board senses, per slot (slots it does not sense are absent). */
  async readStock(): Promise<readonly SensedStock[]> {
    await this.requireProtocol3('read sensed stock');
    return this.telemetry.readStock();
  }

  /**
   * Section 3.12: restarts the board and resolves once it answers again
   * with a new boot epoch (the `restarted` event has been emitted by then).
   * Refused with DeviceBusy while a vend is in flight: a restart would
   * leave its outcome unknown.
   */
  async reset(): Promise<void> {
    await this.requireProtocol3('reset');
    if (this.vends.pending > 0)
      throw new VendgateError(ErrorCode.DeviceBusy, `machine ${this.machineId}: a vend is in flight`, {
        machineId: this.machineId,
      });
    const before = this.epoch;
    const back = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          done(
            new VendgateError(
              ErrorCode.TelemetryResetTimeout,
              `machine ${this.machineId}: the board did not come back within ${this.resetTimeoutMs} ms of its reset`,
              { machineId: this.machineId, bootEpoch: before },
            ),
          ),
        this.resetTimeoutMs,
      );
      const waiter = {
        before,
        done: (err: VendgateError | null) => {
          clearTimeout(timer);
          this.resetWaiters.delete(waiter);
          if (err) reject(err);
          else resolve();
        },
      };
      const done = waiter.done;
      this.resetWaiters.add(waiter);
      this.telemetry.sendReset(before ?? 0).catch((err: VendgateError) => done(err));
    });
    await back;
  }

  private checkResets(): void {
    if (!this.online) return;
    for (const w of [...this.resetWaiters]) if (this.epoch !== w.before) w.done(null);
  }

  private async requireProtocol3(what: string): Promise<void> {
    const version = this.protocolVersion ?? (await this.info()).protocolVersion;
    if (version < 3)
      throw new VendgateError(
        ErrorCode.TelemetryUnsupported,
        `machine ${this.machineId}: the board speaks VSB protocol ${version} and cannot ${what} (needs 3)`,
        { machineId: this.machineId, protocolVersion: version },
      );
  }

  private checkSilence(): void {
    if (this.port.isOpen && performance.now() - this.lastRxAt > this.silenceTimeoutMs) {
      this.port.lose(`silence: no frame from the board for ${this.silenceTimeoutMs} ms`);
    }
  }

  /**
   * Vends and questions first, the link's frames last: a vend failed here
   * must not let the next waiting one queue a DISPENSE that would go out
   * on the reopened port after its caller was told it was offline.
   */
  private failAll(err: VendgateError, portLost: boolean): void {
    this.vends.failAll(err);
    this.queries.failAll(err);
    this.telemetry.failAll(err);
    if (portLost) this.link.lost(err);
    else this.link.failAll(err);
  }

  private readonly noteBootEpoch = (epoch: number): void => {
    const previous = this.epoch;
    if (previous === epoch) return;
    this.epoch = epoch;
    if (previous === undefined) {
      this.log.info({ bootEpoch: epoch }, 'board boot epoch');
      return;
    }
    // Section 6.1: a new epoch is a restarted board; what it remembers of tokens is not known.
    this.log.warn({ previousEpoch: previous, bootEpoch: epoch }, 'board restarted');
    this.link.peerRestarted();
    this.protocolVersion = undefined;
    this.telemetry.forgetSensors();
    this.vends.onBoardRestarted(previous, epoch);
    this.emit('restarted', previous, epoch);
    // The new boot's readings, and a reset() waiting for this boot (once online: the frame is processed first).
    queueMicrotask(() => {
      this.telemetry.requestSensors();
      this.checkResets();
    });
  };

  private readonly onFrame = (f: Frame): void => {
    this.lastRxAt = performance.now();
    if (f.command === Command.Poll && f.payload.length === 5) {
      // Before anything else of this frame: a restart must be known before going online or acting.
      this.noteBootEpoch(PollMessage.from(f.payload).bootEpoch!);
    }
    this.port.setOnline();
    if (!this.link.receive(f)) return;
    let msg: ReturnType<typeof parseMessage>;
    try {
      msg = parseMessage(f);
    } catch (err) {
      this.stats.invalidFrames++;
      this.log.warn({ err: (err as Error).message, command: f.command }, 'invalid frame');
      return;
    }
    if (msg instanceof DispenseResultMessage) this.vends.onResult(msg);
    else if (msg instanceof DispenseProgressMessage) this.vends.onProgress(msg);
    else if (msg instanceof VendStatusMessage) this.queries.onVendStatus(msg);
    else if (msg instanceof InfoMessage) {
      this.protocolVersion = msg.protocolVersion;
      this.queries.onInfo(msg);
    } else if (msg instanceof SensorsMessage) this.telemetry.onSensors(msg);
    else if (msg instanceof StockMessage) this.telemetry.onStock(msg);
    else if (msg instanceof DispenseMessage || msg === undefined) {
      this.log.debug({ command: f.command }, 'unexpected frame ignored');
    }
  };
}
