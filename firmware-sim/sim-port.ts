/**
 * The device end of a simulator's serial line, as the slot-board and MDB
 * simulators share it: open on start, notice the port closing or failing
 * and reopen it every `reopenRetryMs` (like firmware that keeps retrying its
 * UART), the 'unplug' fault (closed for a while, then reopened), and when
 * the host was last heard from. What the bytes mean stays with the sim.
 */
import type { ByteTransport } from '../devices/vending/transport.ts';

export interface SimPortOptions {
  /** Delay between reopen attempts. */
  reopenRetryMs: number;
  /** Every chunk from the host. */
  onData: (chunk: Buffer) => void;
  /** The port is open (on start and after every reopen). */
  onOpen: () => void;
  /** The port closed or failed (not during an unplug, not after stop). */
  onLost: (reason: string) => void;
  /** The port was reopened, before onOpen: reset decoders. */
  onReopen: () => void;
}

export class SimPort {
  private running = false;
  private reopenTimer: NodeJS.Timeout | null = null;
  private unpluggedUntil = 0;
  private lastHostRxAt = 0;
  private readonly onData = (chunk: Buffer) => this.opts.onData(chunk);
  private readonly onClose = (err?: Error) => this.portLost(err ? `closed: ${err.message}` : 'closed');
  private readonly onError = (err: Error) => this.portLost(`error: ${err.message}`);

  constructor(
    readonly transport: ByteTransport,
    private readonly opts: SimPortOptions,
  ) {
    transport.on('data', this.onData);
    transport.on('close', this.onClose);
    transport.on('error', this.onError);
  }

  /** True between start() and stop(). */
  get isRunning(): boolean {
    return this.running;
  }

  async start(): Promise<void> {
    this.running = true;
    await this.transport.open();
    this.lastHostRxAt = performance.now();
    this.opts.onOpen();
  }

  /** Stops reopening, closes the port and detaches from it. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = null;
    this.transport.off('close', this.onClose);
    await this.transport.close();
    this.transport.off('data', this.onData);
    this.transport.off('error', this.onError);
  }

  /** Closes the port for `ms`, then reopens it. */
  async unplug(ms: number): Promise<void> {
    this.unpluggedUntil = performance.now() + ms;
    await this.transport.close();
    this.scheduleReopen(ms);
  }

  /** Something came from the host (or the silence clock restarts). */
  hostHeard(): void {
    this.lastHostRxAt = performance.now();
  }

  /** True when nothing came from the host for more than `ms`. */
  hostSilentFor(ms: number): boolean {
    return performance.now() - this.lastHostRxAt > ms;
  }

  /** Closes the port without reporting it as lost (onLost is not called). */
  async closeQuietly(): Promise<void> {
    this.transport.off('close', this.onClose);
    await this.transport.close();
    this.transport.on('close', this.onClose);
  }

  scheduleReopen(delay: number): void {
    if (!this.running || this.reopenTimer) return;
    this.reopenTimer = setTimeout(async () => {
      this.reopenTimer = null;
      if (!this.running || this.transport.isOpen) return;
      try {
        await this.transport.open();
        this.opts.onReopen();
        this.lastHostRxAt = performance.now();
        this.unpluggedUntil = 0;
        this.opts.onOpen();
      } catch {
        this.scheduleReopen(this.opts.reopenRetryMs);
      }
    }, delay);
  }

  private portLost(reason: string): void {
    if (!this.running || performance.now() < this.unpluggedUntil) return;
    this.opts.onLost(reason);
    if (this.transport.isOpen) void this.transport.close();
    this.scheduleReopen(this.opts.reopenRetryMs);
  }
}
