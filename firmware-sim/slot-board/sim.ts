/**
 * A simulated VSB slot controller board (docs/protocols/slot-board.md),
 * byte-exact on any ByteTransport: a pty (see main.ts), TCP, or an
 * in-memory pair for unit tests. It polls the host, ACKs and dedupes by
 * sequence number, resends unacknowledged frames, remembers every vend token
 * (so a resent DISPENSE never dispenses twice), and takes injected faults.
 *
 * Boot identity (docs/protocols/slot-board.md section 6.1): each SlotBoardSim
 * is one boot of the board, with a random epoch reported in POLL, INFO,
 * VEND_STATUS and the ACK of a DISPENSE. Token memory lasts as long as the
 * process, or across restarts with `stateFile` (the board's non-volatile
 * memory); deleting that file between runs is a board that lost its memory
 * in a power cut.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import {
  ACK_FRAMES,
  Command,
  encodeFrame,
  type Frame,
  FrameDecoder,
} from '../../devices/vending/slot-board/codec.ts';
import {
  AckMessage,
  DispenseMessage,
  DispenseProgressMessage,
  DispenseResultMessage,
  GetStockMessage,
  InfoMessage,
  PollMessage,
  PollStatus,
  PROTOCOL_VERSION,
  ProgressStage,
  parseMessage,
  QueryVendMessage,
  RESULT_NAMES,
  ResetMessage,
  ResultCode,
  SensorsMessage,
  STOCK_PAGE_SLOTS,
  StockMessage,
  VendState,
  VendStatusMessage,
} from '../../devices/vending/slot-board/messages.ts';
import type { ByteTransport } from '../../devices/vending/transport.ts';
import { SimPort } from '../sim-port.ts';

export interface SlotConfig {
  slot: number;
  stock: number;
  /** Price in minor units (informational; the board does not take money). */
  price?: number;
  /** Whether the board senses this slot's level (protocol 3, section 3.14); default true. */
  sensed?: boolean;
}

/** What the board's cabinet sensors read (section 3.13); null: the board has no such sensor. */
export interface SimSensors {
  doorOpen: boolean | null;
  temperatureDeciC: number | null;
}

export interface SlotBoardSimOptions {
  /** Default: slots 1..10, stock 10, price 100. */
  slots?: SlotConfig[];
  /** Motor run time per vend, default 300 ms; 0 allowed. */
  motorMs?: number;
  /** Poll period, default 200 ms. */
  pollMs?: number;
  /** Resend an unacknowledged frame after this long, default 100 ms. */
  ackTimeoutMs?: number;
  /** Resends before a frame is given up, default 5. */
  maxResends?: number;
  firmware?: string;
  /**
   * Close and reopen the port when nothing came from the host for this long
   * (a pty that vanished and came back). 0 = never (default).
   */
  reopenOnHostSilenceMs?: number;
  /** Delay between reopen attempts, default 200 ms. */
  reopenRetryMs?: number;
  /** Called synchronously with every final vend outcome, before it is reported. */
  onOutcome?: (record: VendRecord) => void;
  /** This boot's epoch, 1..2^32-1; default random (section 6.1). */
  bootEpoch?: number;
  /**
   * The board's non-volatile token memory (JSON Lines, appended
   * synchronously before anything is reported). Loaded at start, so tokens
   * survive a restart as section 6.1 requires. None: memory lasts as long as
   * this object.
   */
  stateFile?: string;
  /**
   * The protocol the board speaks, 2 or 3 (default 3). A protocol 2 board
   * knows nothing of sensors, sensed stock or reset: it ACKs those frames
   * and ignores them (section 4.4), as the boards in the field do.
   */
  protocolVersion?: 2 | 3;
  /** Initial sensor readings; default door closed and 4.5 °C (45). */
  sensors?: Partial<SimSensors>;
  /** How long a RESET keeps the board down before it boots again, default 300 ms. */
  rebootMs?: number;
}

/** A random boot epoch: u32, never 0 (0 means "not known" in a DISPENSE, section 3.3). */
export function randomBootEpoch(): number {
  return (randomBytes(4).readUInt32BE(0) % 0xffff_ffff) + 1;
}

/** One final vend outcome; also the JSONL log line format. */
export interface VendRecord {
  vendToken: number;
  slot: number;
  /** 'dispensed' or the failure: jammed, motor-did-not-stop, no-motor, drop-sensor-miss, empty-slot, unknown-slot, busy. */
  outcome: string;
  at: string;
}

/** Faults accepted on stdin by main.ts and by `applyFault()`. */
export type SimFault =
  | { fault: 'jam' | 'drop-sensor-miss' | 'motor-fault' | 'no-motor'; slot?: number; count?: number }
  | { fault: 'empty'; slot: number }
  | { fault: 'restock'; slot: number; stock: number }
  | { fault: 'slow'; ms: number }
  | { fault: 'corrupt'; count?: number }
  | { fault: 'silent'; ms: number }
  | { fault: 'unplug'; ms: number }
  /** The next `count` (default 1) successful vends end in a power cut: logged, then the board dies unreported. */
  | { fault: 'crash-after-vend'; count?: number }
  /** Opens or closes the cabinet door (protocol 3: reported in SENSORS). */
  | { fault: 'door'; open: boolean }
  /** Sets the cabinet temperature, tenths of a degree Celsius (protocol 3: reported in SENSORS). */
  | { fault: 'temperature'; deciC: number }
  | { fault: 'clear' };

export interface SlotBoardSimEvents {
  'dispense-start': [vendToken: number, slot: number];
  vend: [record: VendRecord];
  'port-open': [];
  'port-closed': [reason: string];
  fault: [fault: SimFault];
  /** A DISPENSE named another boot epoch and was refused (section 6). */
  'wrong-epoch': [vendToken: number, bootEpoch: number];
  /** A `crash-after-vend` fault fired: the board stopped dead after logging this vend. */
  crash: [record: VendRecord];
  /** A RESET restarted the board (section 3.12): a new boot with a new epoch. */
  reset: [previousEpoch: number, bootEpoch: number];
}

interface VendMemory {
  state: 'in-progress' | 'final';
  slot: number;
  result: number;
}

interface OutFrame {
  frame: Buffer;
  seq: number;
  attempts: number;
  progressOf?: number;
}

/** A data frame waiting for the send slot; its seq is assigned when it is sent. */
interface QueuedFrame {
  command: number;
  payload: Uint8Array;
  /** For DISPENSE_PROGRESS: the vend it reports, so a newer report can replace it. */
  progressOf?: number;
}

const OUTCOME_FAULT_CODES: Record<string, number> = {
  jam: ResultCode.Jammed,
  'drop-sensor-miss': ResultCode.DropSensorMiss,
  'motor-fault': ResultCode.MotorDidNotStop,
  'no-motor': ResultCode.NoMotor,
};

export function outcomeName(result: number): string {
  return result === ResultCode.Success ? 'dispensed' : (RESULT_NAMES[result] ?? `code-${result}`);
}

export class SlotBoardSim extends EventEmitter<SlotBoardSimEvents> {
  readonly stats = { framesIn: 0, duplicates: 0, resends: 0, dropped: 0, dispensed: 0, failed: 0, polls: 0 };
  readonly decoder = new FrameDecoder();
  private readonly slots = new Map<number, SlotConfig>();
  private readonly vends = new Map<number, VendMemory>();
  private readonly opts: Required<Omit<SlotBoardSimOptions, 'slots' | 'onOutcome' | 'sensors'>> &
    Pick<SlotBoardSimOptions, 'onOutcome'>;
  private readonly sensorState: SimSensors;
  /** Bumped by every RESET: a motor timer of an earlier boot finds it changed and reports nothing. */
  private boot = 0;
  private rebootingUntil = 0;
  private current: number | null = null;
  private txSeq = 0;
  private readonly txQueue: QueuedFrame[] = [];
  private inflight: OutFrame | null = null;
  private ackTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private lastRxSeq = -1;
  private lastRxCmd = -1;
  private lastRxCk = -1;
  private readonly port: SimPort;
  private silentUntil = 0;
  private slowMs = 0;
  private corruptRemaining = 0;
  private outcomeFaults: { code: number; slot: number | undefined; remaining: number }[] = [];
  private crashAfterVends = 0;
  private dead = false;
  #bootEpoch: number;

  constructor(
    readonly transport: ByteTransport,
    opts: SlotBoardSimOptions = {},
  ) {
    super();
    this.opts = {
      motorMs: opts.motorMs ?? 300,
      pollMs: opts.pollMs ?? 200,
      ackTimeoutMs: opts.ackTimeoutMs ?? 100,
      maxResends: opts.maxResends ?? 5,
      firmware: opts.firmware ?? 'vendgate-sim-vsb/1.0',
      reopenOnHostSilenceMs: opts.reopenOnHostSilenceMs ?? 0,
      reopenRetryMs: opts.reopenRetryMs ?? 200,
      onOutcome: opts.onOutcome,
      stateFile: opts.stateFile ?? '',
      bootEpoch: opts.bootEpoch ?? randomBootEpoch(),
      protocolVersion: opts.protocolVersion ?? 3,
      rebootMs: opts.rebootMs ?? 300,
    };
    this.sensorState = {
      doorOpen: opts.sensors?.doorOpen === undefined ? false : opts.sensors.doorOpen,
      temperatureDeciC: opts.sensors?.temperatureDeciC === undefined ? 45 : opts.sensors.temperatureDeciC,
    };
    if (!Number.isInteger(this.opts.bootEpoch) || this.opts.bootEpoch < 1 || this.opts.bootEpoch > 0xffffffff)
      throw new RangeError(`bootEpoch must be 1..2^32-1, got ${this.opts.bootEpoch}`);
    this.#bootEpoch = this.opts.bootEpoch;
    if (this.opts.stateFile) this.loadState(this.opts.stateFile);
    const slots =
      opts.slots ?? Array.from({ length: 10 }, (_, i) => ({ slot: i + 1, stock: 10, price: 100 }));
    for (const s of slots) this.slots.set(s.slot, { ...s });
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
    this.pollTimer = setInterval(() => this.tick(), this.opts.pollMs);
    this.tick();
  }

  async stop(): Promise<void> {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.ackTimer = this.pollTimer = null;
    await this.port.stop();
  }

  /**
   * Reads the token memory a previous boot left. A vend that was running
   * when the power went stays "in progress": whether the product fell is not
   * known, so the board never claims an outcome for it (section 6.1).
   */
  private loadState(path: string): void {
    if (!existsSync(path)) return;
    const lines = readFileSync(path, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      let v: { vendToken?: unknown; state?: unknown; slot?: unknown; result?: unknown };
      try {
        v = JSON.parse(line);
      } catch {
        // A line torn by the power cut: everything before it is intact.
        if (i >= lines.length - 2) return;
        throw new Error(`${path} line ${i + 1}: not JSON`);
      }
      if (
        typeof v.vendToken !== 'number' ||
        (v.state !== 'in-progress' && v.state !== 'final') ||
        typeof v.slot !== 'number' ||
        typeof v.result !== 'number'
      ) {
        throw new Error(`${path} line ${i + 1}: expected {vendToken, state, slot, result}`);
      }
      this.vends.set(v.vendToken, { state: v.state, slot: v.slot, result: v.result });
    });
  }

  private remember(token: number, memory: VendMemory): void {
    this.vends.set(token, memory);
    if (this.opts.stateFile) {
      appendFileSync(this.opts.stateFile, `${JSON.stringify({ vendToken: token, ...memory })}\n`);
    }
  }

  /** What the board remembers about a token. */
  vendState(vendToken: number): VendMemory | undefined {
    const v = this.vends.get(vendToken);
    return v ? { ...v } : undefined;
  }

  /** This boot's epoch (section 6.1); a RESET picks a new one. */
  get bootEpoch(): number {
    return this.#bootEpoch;
  }

  stock(slot: number): number | undefined {
    return this.slots.get(slot)?.stock;
  }

  /** What the cabinet sensors read now. */
  sensors(): SimSensors {
    return { ...this.sensorState };
  }

  applyFault(f: SimFault): void {
    switch (f.fault) {
      case 'jam':
      case 'drop-sensor-miss':
      case 'motor-fault':
      case 'no-motor':
        this.outcomeFaults.push({
          code: OUTCOME_FAULT_CODES[f.fault]!,
          slot: f.slot,
          remaining: f.count ?? 1,
        });
        break;
      case 'empty': {
        const s = this.slots.get(f.slot);
        if (s) s.stock = 0;
        break;
      }
      case 'restock': {
        const s = this.slots.get(f.slot);
        if (s) s.stock = f.stock;
        else this.slots.set(f.slot, { slot: f.slot, stock: f.stock });
        break;
      }
      case 'slow':
        this.slowMs = Math.max(0, f.ms);
        break;
      case 'corrupt':
        this.corruptRemaining += f.count ?? 1;
        break;
      case 'silent':
        this.silentUntil = performance.now() + f.ms;
        break;
      case 'unplug':
        void this.unplug(f.ms);
        break;
      case 'crash-after-vend':
        this.crashAfterVends += f.count ?? 1;
        break;
      case 'door':
        this.setSensors({ ...this.sensorState, doorOpen: f.open });
        break;
      case 'temperature':
        this.setSensors({ ...this.sensorState, temperatureDeciC: f.deciC });
        break;
      case 'clear':
        this.outcomeFaults = [];
        this.slowMs = 0;
        this.corruptRemaining = 0;
        this.silentUntil = 0;
        this.crashAfterVends = 0;
        break;
      default:
        throw new Error(`unknown fault ${JSON.stringify(f)}`);
    }
    this.emit('fault', f);
  }

  /** Closes the port for `ms`, then reopens it. Vend memory survives. */
  unplug(ms: number): Promise<void> {
    return this.port.unplug(ms);
  }

  private isSilent(): boolean {
    const now = performance.now();
    return this.dead || this.silentUntil > now || this.rebootingUntil > now;
  }

  private get speaksTelemetry(): boolean {
    return this.opts.protocolVersion >= 3;
  }

  /** Section 3.13: a changed reading is reported at once (acknowledged and resent like any data frame). */
  private setSensors(next: SimSensors): void {
    if (
      next.temperatureDeciC !== null &&
      (!Number.isInteger(next.temperatureDeciC) ||
        next.temperatureDeciC < -0x8000 ||
        next.temperatureDeciC > 0x7fff)
    )
      throw new RangeError(`temperature must be an i16 in tenths of a degree, got ${next.temperatureDeciC}`);
    const changed =
      next.doorOpen !== this.sensorState.doorOpen ||
      next.temperatureDeciC !== this.sensorState.temperatureDeciC;
    Object.assign(this.sensorState, next);
    if (changed && this.speaksTelemetry) this.reportSensors();
  }

  private reportSensors(): void {
    const s = this.sensorState;
    this.enqueue(
      Command.Sensors,
      new SensorsMessage(s.doorOpen ?? undefined, s.temperatureDeciC ?? undefined).payload(),
    );
  }

  /** Section 3.14: one page of sensed levels, slots numbered `first` and up. */
  private reportStock(first: number): void {
    const sensed = [...this.slots.values()]
      .filter((s) => s.sensed !== false && s.slot >= first)
      .sort((a, b) => a.slot - b.slot);
    const page = sensed.slice(0, STOCK_PAGE_SLOTS);
    const next = sensed.length > STOCK_PAGE_SLOTS ? sensed[STOCK_PAGE_SLOTS]!.slot : 0;
    this.enqueue(
      Command.Stock,
      new StockMessage(
        first,
        next,
        page.map((s) => ({ slot: s.slot, level: Math.max(0, Math.min(255, s.stock)) })),
      ).payload(),
    );
  }

  /**
   * Section 3.12: the board restarts after its ACK of the RESET is out: down
   * for `rebootMs` (nothing sent, nothing heard), then a new boot with a new
   * epoch, a fresh seq counter and no dedupe memory. Token memory is
   * non-volatile and survives (section 6.1); a vend whose motor was running
   * stays "in progress" forever, as after a power cut.
   */
  private reboot(): void {
    const previous = this.#bootEpoch;
    this.boot++;
    this.current = null;
    this.txQueue.length = 0;
    this.inflight = null;
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    this.lastRxSeq = this.lastRxCmd = this.lastRxCk = -1;
    this.txSeq = 0;
    this.decoder.reset();
    this.rebootingUntil = performance.now() + this.opts.rebootMs;
    let epoch = randomBootEpoch();
    while (epoch === previous) epoch = randomBootEpoch();
    this.#bootEpoch = epoch;
    setTimeout(() => {
      this.rebootingUntil = 0;
      this.emit('reset', previous, epoch);
      this.tick();
    }, this.opts.rebootMs).unref?.();
  }

  private tick(): void {
    if (!this.port.isRunning || !this.transport.isOpen || this.isSilent()) return;
    const hs = this.opts.reopenOnHostSilenceMs;
    if (hs > 0 && this.port.hostSilentFor(hs)) {
      this.port.hostHeard();
      this.emit('port-closed', 'host silent');
      void this.transport.close().then(() => this.port.scheduleReopen(0));
      return;
    }
    this.stats.polls++;
    this.send(
      new PollMessage(
        this.current === null ? PollStatus.Idle : PollStatus.Dispensing,
        this.bootEpoch,
      ).serialize(0),
    );
  }

  /** Every outgoing byte goes through here so faults apply uniformly. */
  private send(frame: Buffer): void {
    if (!this.transport.isOpen || this.isSilent()) return;
    let bytes: Uint8Array = frame;
    if (this.corruptRemaining > 0) {
      this.corruptRemaining--;
      const bad = Buffer.from(frame);
      bad[bad.length - 1] = bad[bad.length - 1]! ^ 0x5a; // checksum no longer matches
      bytes = Buffer.concat([Buffer.from([0x00, 0xfa, 0x13, 0xfb]), bad, Buffer.from([0xfa])]);
    }
    if (this.slowMs > 0) {
      setTimeout(() => this.transport.write(bytes), this.slowMs);
      return;
    }
    // Coalesce what is sent while handling one chunk (ACK + next frame) into
    // one write. process.nextTick, not setImmediate: the write goes out as
    // soon as this chunk is handled, without waiting for the rest of the loop.
    this.outBufs.push(bytes);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flush);
    }
  }

  private outBufs: Uint8Array[] = [];
  private flushScheduled = false;
  private readonly flush = (): void => {
    this.flushScheduled = false;
    const bufs = this.outBufs;
    this.outBufs = [];
    if (bufs.length === 0 || !this.transport.isOpen) return;
    this.transport.write(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs));
  };

  /**
   * Queues a data frame. A DISPENSE_PROGRESS or DISPENSE_RESULT for a vend
   * replaces that vend's DISPENSE_PROGRESS still waiting to be sent (VSB
   * section 6, rule 5): the host needs the latest stage, not every stage, so a
   * fast motor costs fewer round trips on the wire.
   */
  private enqueue(command: number, payload: Uint8Array, vendToken?: number): void {
    if (vendToken !== undefined) {
      for (let i = this.txQueue.length - 1; i >= 0; i--) {
        if (this.txQueue[i]!.progressOf === vendToken) this.txQueue.splice(i, 1);
      }
      // A result also replaces the progress report in the send slot while
      // its bytes still wait in this turn's write buffer (not yet sent):
      // take it back, and its seq.
      const f = this.inflight;
      const takeBack = command === Command.DispenseResult && f?.progressOf === vendToken && f.attempts === 1;
      const unsent = f && takeBack ? this.outBufs.indexOf(f.frame) : -1;
      if (f && unsent >= 0) {
        this.outBufs.splice(unsent, 1);
        if (this.ackTimer) clearTimeout(this.ackTimer);
        this.ackTimer = null;
        this.inflight = null;
        this.txSeq = f.seq === 1 ? 255 : f.seq - 1;
      }
    }
    this.txQueue.push({
      command,
      payload,
      ...(command === Command.DispenseProgress && vendToken !== undefined ? { progressOf: vendToken } : {}),
    });
    this.pump();
  }

  private pump(): void {
    if (this.inflight || this.txQueue.length === 0) return;
    const next = this.txQueue.shift()!;
    // Seqs are assigned on sending so that a replaced frame leaves no gap.
    this.txSeq = (this.txSeq % 255) + 1;
    this.inflight = {
      frame: encodeFrame(next.command, this.txSeq, next.payload),
      seq: this.txSeq,
      attempts: 0,
      ...(next.progressOf !== undefined ? { progressOf: next.progressOf } : {}),
    };
    this.transmit();
  }

  private transmit(): void {
    const f = this.inflight;
    if (!f) return;
    f.attempts++;
    if (f.attempts > 1) this.stats.resends++;
    this.send(f.frame);
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      if (this.inflight !== f) return;
      if (f.attempts > this.opts.maxResends) {
        this.stats.dropped++;
        this.inflight = null;
        this.pump();
      } else {
        this.transmit();
      }
    }, this.opts.ackTimeoutMs);
  }

  private receive(chunk: Buffer): void {
    if (this.isSilent()) return;
    this.decoder.feed(chunk, this.onFrame);
  }

  private readonly onFrame = (f: Frame): void => {
    this.stats.framesIn++;
    this.port.hostHeard();
    if (f.command === Command.Ack) {
      if (this.inflight && f.seq === this.inflight.seq) {
        if (this.ackTimer) clearTimeout(this.ackTimer);
        this.ackTimer = null;
        this.inflight = null;
        this.pump();
      }
      return;
    }
    // Section 3.2: the ACK of a DISPENSE says which boot of the board received it.
    this.send(
      f.command === Command.Dispense ? new AckMessage(this.bootEpoch).serialize(f.seq) : ACK_FRAMES[f.seq]!,
    );
    if (f.seq === this.lastRxSeq && f.command === this.lastRxCmd && f.checksum === this.lastRxCk) {
      this.stats.duplicates++;
      return;
    }
    this.lastRxSeq = f.seq;
    this.lastRxCmd = f.command;
    this.lastRxCk = f.checksum;
    let msg: ReturnType<typeof parseMessage>;
    try {
      msg = parseMessage(f);
    } catch {
      return;
    }
    if (msg instanceof DispenseMessage) this.dispense(msg.vendToken, msg.slot, msg.bootEpoch);
    else if (msg instanceof QueryVendMessage) this.query(msg.vendToken);
    else if (msg && f.command === Command.GetInfo) {
      this.enqueue(
        Command.Info,
        new InfoMessage(
          Math.min(PROTOCOL_VERSION, this.opts.protocolVersion),
          this.slots.size,
          this.opts.firmware,
          this.bootEpoch,
        ).payload(),
      );
    } else if (!this.speaksTelemetry) {
      // Section 4.4: a protocol 2 board ACKed the frame above and ignores what it does not know.
    } else if (msg && f.command === Command.GetSensors) this.reportSensors();
    else if (msg instanceof GetStockMessage) this.reportStock(msg.firstSlot);
    else if (msg instanceof ResetMessage) {
      // Meant for another boot (a resend reaching a board that already restarted): not acted on.
      if (msg.bootEpoch !== 0 && msg.bootEpoch !== this.bootEpoch) return;
      // After this turn's writes (the RESET's ACK) have gone out.
      setImmediate(() => this.reboot());
    }
  };

  private query(token: number): void {
    const v = this.vends.get(token);
    const state = !v
      ? VendState.NeverSeen
      : v.state === 'in-progress'
        ? VendState.InProgress
        : v.result === ResultCode.Success
          ? VendState.Dispensed
          : VendState.Failed;
    this.enqueue(
      Command.VendStatus,
      new VendStatusMessage(token, state, v?.slot ?? 0, v?.result ?? 0, this.bootEpoch).payload(),
    );
  }

  private dispense(token: number, slot: number, epoch: number): void {
    const known = this.vends.get(token);
    if (known) {
      // Section 6: a seen token never dispenses again; re-report what is known.
      if (known.state === 'in-progress') {
        this.enqueue(
          Command.DispenseProgress,
          new DispenseProgressMessage(token, ProgressStage.Dispensing).payload(),
          token,
        );
      } else {
        this.enqueue(
          Command.DispenseResult,
          new DispenseResultMessage(token, known.slot, known.result).payload(),
          token,
        );
      }
      return;
    }
    if (epoch !== 0 && epoch !== this.bootEpoch) {
      // Section 6: meant for a previous boot of this board (or another board); not acted on, not remembered.
      this.emit('wrong-epoch', token, epoch);
      this.enqueue(
        Command.DispenseResult,
        new DispenseResultMessage(token, slot, ResultCode.WrongEpoch).payload(),
        token,
      );
      return;
    }
    const s = this.slots.get(slot);
    const refusal = !s
      ? ResultCode.UnknownSlot
      : this.current !== null
        ? ResultCode.Busy
        : s.stock <= 0
          ? ResultCode.EmptySlot
          : null;
    if (refusal !== null || !s) {
      this.finish(token, slot, refusal ?? ResultCode.UnknownSlot);
      return;
    }
    this.remember(token, { state: 'in-progress', slot, result: 0 });
    this.current = token;
    this.emit('dispense-start', token, slot);
    this.enqueue(
      Command.DispenseProgress,
      new DispenseProgressMessage(token, ProgressStage.Accepted).payload(),
      token,
    );
    this.enqueue(
      Command.DispenseProgress,
      new DispenseProgressMessage(token, ProgressStage.Dispensing).payload(),
      token,
    );
    const boot = this.boot;
    const done = () => {
      if (boot !== this.boot) return; // a RESET cut the power meanwhile: the outcome stays unknown
      const code = this.takeOutcomeFault(slot) ?? ResultCode.Success;
      if (code === ResultCode.Success || code === ResultCode.DropSensorMiss) s.stock--;
      this.finish(token, slot, code);
    };
    // No motor time: the result is known at once and replaces the progress
    // reports not yet on the wire (rule 5), so the vend is DISPENSE, RESULT.
    if (this.opts.motorMs > 0) setTimeout(done, this.opts.motorMs);
    else done();
  }

  private takeOutcomeFault(slot: number): number | undefined {
    const i = this.outcomeFaults.findIndex((f) => f.slot === undefined || f.slot === slot);
    if (i < 0) return undefined;
    const f = this.outcomeFaults[i]!;
    if (--f.remaining <= 0) this.outcomeFaults.splice(i, 1);
    return f.code;
  }

  private finish(token: number, slot: number, result: number): void {
    if (this.dead) return;
    this.remember(token, { state: 'final', slot, result });
    if (this.current === token) this.current = null;
    if (result === ResultCode.Success) this.stats.dispensed++;
    else this.stats.failed++;
    const record: VendRecord = {
      vendToken: token,
      slot,
      outcome: outcomeName(result),
      at: new Date().toISOString(),
    };
    this.opts.onOutcome?.(record);
    this.emit('vend', record);
    if (result === ResultCode.Success && this.crashAfterVends > 0) {
      // The product fell and the power went before the result left: nothing more is sent.
      this.crashAfterVends--;
      this.dead = true;
      if (this.ackTimer) clearTimeout(this.ackTimer);
      if (this.pollTimer) clearInterval(this.pollTimer);
      this.ackTimer = this.pollTimer = null;
      this.outBufs = [];
      this.emit('crash', record);
      return;
    }
    this.enqueue(Command.DispenseResult, new DispenseResultMessage(token, slot, result).payload(), token);
  }
}
