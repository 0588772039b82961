/**
 * The VSB link layer (docs/protocols/slot-board.md, section 4), host side:
 * what makes frames arrive once and in order over a lossy serial line.
 * Above it, vend jobs and queries deal in commands and replies only.
 *
 * - Send: data frames take seq 1..255 in turn (0 is POLL's, section 4.1),
 *   one unacknowledged frame in flight, resent after `ackTimeoutMs` up to
 *   `maxResends` times (section 4.2), through the shared request queue.
 * - Receive: every frame but an ACK is acknowledged quoting its seq; a data
 *   frame equal to the previous one in seq, command and checksum is a resend
 *   and is dropped (section 4.3). POLL is never resent and never deduped.
 * - Frames produced in the same run of code and its ticks go out in one
 *   port write (see write()).
 *
 * This is the remote-vend hot path: per frame it allocates only the frame
 * itself (ACKs are prebuilt) and never awaits.
 */
import type { VendgateError } from '../../../core/errors.ts';
import type { Log } from '../../../core/log.ts';
import { deviceTimeoutError, RequestQueue } from '../request-queue.ts';
import { ACK_FRAMES, Command, encodeFrame, type Frame } from './codec.ts';

/** Data frames that may wait behind the one in flight; beyond it a request is refused with DeviceBusy. */
export const MAX_QUEUED_FRAMES = 256;

export interface SlotBoardLinkStats {
  framesIn: number;
  framesOut: number;
  resends: number;
  duplicates: number;
  ackFailures: number;
}

export interface SlotBoardLinkOptions {
  machineId: string;
  log: Log;
  ackTimeoutMs: number;
  maxResends: number;
  /** Default MAX_QUEUED_FRAMES. */
  maxQueuedFrames?: number;
  /** Counters the link updates in place (the driver's stats object). */
  stats: SlotBoardLinkStats;
  /** Writes bytes to the current port (dropped when there is none). */
  write: (bytes: Buffer) => void;
  /** True while a port is open: frames wait otherwise. */
  isOpen: () => boolean;
}

/**
 * Called once the board acknowledged the frame, with the ACK's payload:
 * empty, or for a DISPENSE the boot epoch of the board that received it
 * (section 3.2).
 */
export type OnAck = (ackPayload: Uint8Array) => void;
/** Called when the frame will never be acknowledged (no ACK after the resends, or the link is gone). */
export type OnFail = (err: VendgateError) => void;

/** What vend jobs and queries need of the link: the seam their unit tests fill with a fake. */
export interface FrameSender {
  /** True while a port is open. */
  readonly open: boolean;
  send(command: number, payload: Uint8Array, onAck: OnAck | null, onFail: OnFail | null): boolean;
  busyError(context?: Record<string, unknown>): VendgateError;
  offlineError(reason: string, context?: Record<string, unknown>): VendgateError;
}

interface OutFrame {
  command: number;
  payload: Uint8Array;
  seq: number;
  frame: Buffer | null;
  onAck: OnAck | null;
  onFail: OnFail | null;
}

export class SlotBoardLink implements FrameSender {
  private readonly stats: SlotBoardLinkStats;
  private readonly queue: RequestQueue<OutFrame>;
  private txSeq = 0;
  private outBufs: Buffer[] = [];
  private flushScheduled = false;
  private lastRxSeq = -1;
  private lastRxCmd = -1;
  private lastRxCk = -1;

  constructor(private readonly opts: SlotBoardLinkOptions) {
    this.stats = opts.stats;
    this.queue = new RequestQueue<OutFrame>({
      machineId: opts.machineId,
      what: 'frames',
      maxLength: opts.maxQueuedFrames ?? MAX_QUEUED_FRAMES,
      timeoutMs: opts.ackTimeoutMs,
      maxAttempts: 1 + opts.maxResends,
      canSend: opts.isOpen,
      transmit: (f, attempt) => {
        if (attempt === 1) {
          this.txSeq = (this.txSeq % 255) + 1; // 1..255; 0 is reserved for POLL (section 4.1)
          f.seq = this.txSeq;
          f.frame = encodeFrame(f.command, f.seq, f.payload);
        } else {
          this.stats.resends++;
        }
        this.stats.framesOut++;
        this.write(f.frame!);
      },
      fail: (f, err) => f.onFail?.(err),
      timeoutError: (f, attempts) => {
        this.stats.ackFailures++;
        this.opts.log.warn({ command: f.command, seq: f.seq, attempts }, 'frame not acknowledged');
        return deviceTimeoutError(opts.machineId, `no ACK after ${attempts} attempts`, {
          command: f.command,
          seq: f.seq,
          attempts,
        });
      },
    });
  }

  get open(): boolean {
    return this.opts.isOpen();
  }

  /**
   * Queues a data frame; it goes out as soon as the link is free. Returns
   * false (nothing queued, no callback called) when the queue is full.
   */
  send(command: number, payload: Uint8Array, onAck: OnAck | null, onFail: OnFail | null): boolean {
    return this.queue.push({ command, payload, seq: 0, frame: null, onAck, onFail });
  }

  /** DeviceBusy for a request refused because the link's queue is full. */
  busyError(context: Record<string, unknown> = {}): VendgateError {
    return this.queue.busyError(context);
  }

  /** DeviceOffline naming the machine: the one error for everything pending when the link goes. */
  offlineError(reason: string, context: Record<string, unknown> = {}): VendgateError {
    return this.queue.offlineError(reason, context);
  }

  /**
   * Takes one decoded frame from the board. Returns true when it is a new
   * data frame for the layer above; false for an ACK, a POLL or a resend
   * already seen.
   */
  receive(f: Frame): boolean {
    this.stats.framesIn++;
    const cmd = f.command;
    if (cmd === Command.Ack) {
      const inflight = this.queue.inflight;
      if (inflight && f.seq === inflight.seq) {
        this.queue.complete();
        inflight.onAck?.(f.payload);
      }
      return false;
    }
    this.write(ACK_FRAMES[f.seq]!);
    if (cmd === Command.Poll) return false; // POLL is never resent and never deduped (section 4.1)
    if (f.seq === this.lastRxSeq && cmd === this.lastRxCmd && f.checksum === this.lastRxCk) {
      this.stats.duplicates++;
      return false;
    }
    this.lastRxSeq = f.seq;
    this.lastRxCmd = cmd;
    this.lastRxCk = f.checksum;
    return true;
  }

  /**
   * The board restarted (a new boot epoch): its seq counter started again,
   * so the next data frame must not be taken for a resend of the last one
   * from its previous life (section 4.3).
   */
  peerRestarted(): void {
    this.lastRxSeq = -1;
    this.lastRxCmd = -1;
    this.lastRxCk = -1;
  }

  /** The port is gone: drop unwritten bytes, fail every frame pending with `err`. */
  lost(err: VendgateError): void {
    this.outBufs = [];
    this.queue.failAll(err);
  }

  /** Fails every frame pending with `err` (the driver stopped). */
  failAll(err: VendgateError): void {
    this.queue.failAll(err);
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
    this.opts.write(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs));
  };
}
