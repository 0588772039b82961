/**
 * The reconnecting link lifecycle both vending drivers share: open the port
 * through the factory, notice it closing or failing, hand the loss to the
 * driver, close it, and reopen it (through the factory again, so a pty that
 * reappeared at the same path is picked up) with capped exponential backoff
 * until stop; and the online / offline transitions. What the bytes mean and
 * when the device counts as answering or silent stay with the driver.
 */
import type { Log } from '../../core/log.ts';
import type { ByteTransport, TransportFactory, TransportOptions } from './transport.ts';

export interface PortSupervisorOptions {
  url: string;
  factory: TransportFactory;
  transportOptions: TransportOptions;
  log: Log;
  /** Reopen backoff: first delay, doubled per failed attempt, capped. */
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  /** Every chunk from the current port. */
  onData: (chunk: Buffer) => void;
  /** A port was opened and is now current (reset decoders, start configuring). */
  onOpen: () => void;
  /**
   * The current port is gone or dead (no longer current): go offline and
   * fail what is pending. The port is closed and a reopen scheduled after.
   */
  onLost: (reason: string) => void;
  /** A reopen attempt starts (for stats). */
  onReconnect: () => void;
  /** The device went online / offline (emit the driver's events). */
  onOnline: () => void;
  onOffline: (reason: string) => void;
}

export class PortSupervisor {
  private transport: ByteTransport | null = null;
  private connected = false;
  private running = false;
  private online = false;
  private reconnectAttempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: PortSupervisorOptions) {}

  /** True between start() and stop(). */
  get isRunning(): boolean {
    return this.running;
  }

  /** True while a transport is open and current. */
  get isOpen(): boolean {
    return this.connected;
  }

  /**
   * Starts supervising. Resolves once the first open attempt finished: if it
   * failed, keeps reopening in the background with backoff until stop().
   */
  async start(): Promise<void> {
    this.running = true;
    try {
      await this.connect();
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message, url: this.opts.url }, 'open failed; will retry');
      this.scheduleReconnect();
    }
  }

  /**
   * First half of stopping: no more reopening. The port stays current (the
   * driver may still write a last line) until close().
   */
  halt(): void {
    this.running = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  /** Second half of stopping: detaches and closes the current port. */
  async close(): Promise<void> {
    const t = this.transport;
    this.transport = null;
    this.connected = false;
    if (t) {
      t.removeAllListeners('data');
      t.removeAllListeners('close');
      await t.close().catch(() => {});
    }
  }

  /** Writes to the current port; false (bytes dropped) when there is none. */
  write(data: Uint8Array): boolean {
    return this.transport?.write(data) ?? false;
  }

  /** True from setOnline() until setOffline(). */
  get isOnline(): boolean {
    return this.online;
  }

  /** The device answers (again): online, and the next loss starts the backoff from its first delay. */
  setOnline(): void {
    if (this.online) return;
    this.online = true;
    this.reconnectAttempt = 0;
    this.opts.log.info('online');
    this.opts.onOnline();
  }

  setOffline(reason: string): void {
    if (!this.online) return;
    this.online = false;
    this.opts.log.warn({ reason }, 'offline');
    this.opts.onOffline(reason);
  }

  /** The link is gone or dead: tell the driver, close the port, reopen later. */
  lose(reason: string): void {
    if (!this.connected) return;
    this.connected = false;
    const t = this.transport;
    this.transport = null;
    this.opts.log.warn({ reason }, 'link lost');
    this.opts.onLost(reason);
    if (t) {
      t.removeAllListeners('data');
      t.removeAllListeners('close');
      // keep an error listener: a late error on a dead port must not crash the process
      t.close().catch(() => {});
    }
    this.scheduleReconnect();
  }

  private async connect(): Promise<void> {
    const t = this.opts.factory(this.opts.url, this.opts.transportOptions);
    const onData = (chunk: Buffer) => {
      if (this.transport === t) this.opts.onData(chunk);
    };
    const onClose = (err?: Error) => {
      if (this.transport === t) this.lose(err ? `port closed: ${err.message}` : 'port closed');
    };
    const onError = (err: Error) => {
      if (this.transport === t) this.lose(`port error: ${err.message}`);
    };
    t.on('data', onData);
    t.on('close', onClose);
    t.on('error', onError);
    try {
      await t.open();
    } catch (err) {
      t.off('data', onData);
      t.off('close', onClose);
      t.off('error', onError);
      throw err;
    }
    if (!this.running) {
      await t.close().catch(() => {});
      return;
    }
    this.transport = t;
    this.connected = true;
    this.opts.log.info({ url: this.opts.url }, 'port open');
    this.opts.onOpen();
  }

  private scheduleReconnect(): void {
    if (!this.running || this.reconnectTimer) return;
    const delay = Math.min(
      this.opts.reconnectMaxMs,
      this.opts.reconnectInitialMs * 2 ** Math.min(this.reconnectAttempt, 30),
    );
    this.reconnectAttempt++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.running || this.connected) return;
      this.opts.onReconnect();
      this.connect().catch((err: Error) => {
        this.opts.log.debug({ err: err.message, delay }, 'reopen failed');
        this.scheduleReconnect();
      });
    }, delay);
  }
}
