/**
 * Byte transports for vending controller boards: a serial port (a real
 * `/dev/tty...` device or a pty made by socat) or raw serial over TCP
 * (`tcp://host:port`, ser2net style), behind one small duplex interface so
 * drivers and simulators never see which one they have, and tests can pass
 * an in-memory pair instead.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';

export interface ByteTransportEvents {
  data: [chunk: Buffer];
  /** The transport closed (by us, the peer, or an error). Emitted once per open. */
  close: [err?: Error];
  error: [err: Error];
}

/**
 * A byte duplex. Created closed; `open()` may be called again after a
 * `close` (the driver reopens through its factory instead, but in-memory
 * transports support it).
 */
export interface ByteTransport extends EventEmitter<ByteTransportEvents> {
  readonly url: string;
  readonly isOpen: boolean;
  open(): Promise<void>;
  close(): Promise<void>;
  /** Queues bytes; returns false when the transport is not open (bytes dropped). */
  write(data: Uint8Array): boolean;
}

export interface TransportOptions {
  /** Serial line speed, default 9600 (8N1). Ignored for tcp://. */
  baudRate?: number;
  dataBits?: 5 | 6 | 7 | 8;
  stopBits?: 1 | 1.5 | 2;
  parity?: 'none' | 'even' | 'odd' | 'mark' | 'space';
  /** TCP connect timeout, default 3000 ms. */
  connectTimeoutMs?: number;
  /**
   * Serial only: do reads and writes on the event loop instead of libuv's
   * thread pool (Linux; see serial-binding.ts). Default true; false uses
   * node-serialport's stock binding unchanged.
   */
  directIo?: boolean;
}

/** Makes a (closed) transport for a URL. The seam drivers take. */
export type TransportFactory = (url: string, opts?: TransportOptions) => ByteTransport;

/** Creates a closed transport for `/dev/tty...` (or any path) or `tcp://host:port`. */
export function createTransport(url: string, opts: TransportOptions = {}): ByteTransport {
  if (url.startsWith('tcp://')) return new TcpTransport(url, opts);
  if (url.includes('://'))
    throw new Error(`Unsupported transport URL "${url}": use a device path or tcp://host:port`);
  return new SerialTransport(url, opts);
}

/** Creates and opens a transport. */
export async function openTransport(url: string, opts: TransportOptions = {}): Promise<ByteTransport> {
  const t = createTransport(url, opts);
  await t.open();
  return t;
}

/** node-serialport, loaded lazily so code paths that only use TCP or memory never load the native binding. */
export class SerialTransport extends EventEmitter<ByteTransportEvents> implements ByteTransport {
  // biome-ignore lint/suspicious/noExplicitAny: SerialPort instance typed loosely to keep the import lazy
  private port: any = null;

  constructor(
    readonly url: string,
    private readonly opts: TransportOptions = {},
  ) {
    super();
  }

  get isOpen(): boolean {
    return this.port?.isOpen === true;
  }

  async open(): Promise<void> {
    if (this.port) throw new Error(`serial transport ${this.url} already open`);
    const settings = {
      path: this.url,
      baudRate: this.opts.baudRate ?? 9600,
      dataBits: this.opts.dataBits ?? 8,
      stopBits: this.opts.stopBits ?? 1,
      parity: this.opts.parity ?? 'none',
      autoOpen: false,
    } as const;
    let port: import('@serialport/stream').SerialPortStream;
    const parity = settings.parity;
    // Mark and space parity are not Linux termios options; the stock binding reports that.
    if (
      process.platform === 'linux' &&
      this.opts.directIo !== false &&
      parity !== 'mark' &&
      parity !== 'space'
    ) {
      const [{ SerialPortStream }, { DirectIoLinuxBinding }] = await Promise.all([
        import('@serialport/stream'),
        import('./serial-binding.ts'),
      ]);
      port = new SerialPortStream({ ...settings, parity, binding: DirectIoLinuxBinding });
    } else {
      const { SerialPort } = await import('serialport');
      port = new SerialPort(settings);
    }
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    this.port = port;
    port.on('data', (chunk: Buffer) => this.emit('data', chunk));
    port.on('error', (err: Error) => this.emitError(err));
    port.on('close', (err?: Error | null) => {
      if (this.port === port) this.port = null;
      this.emit('close', err ?? undefined);
    });
    // Drop whatever piled up in the OS buffer while nobody was reading.
    await new Promise<void>((resolve) => port.flush(() => resolve()));
  }

  /** A late error from a port nobody listens to any more must not crash the process. */
  private emitError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  async close(): Promise<void> {
    const port = this.port;
    if (!port) return;
    await new Promise<void>((resolve) => {
      if (!port.isOpen) return resolve();
      port.close(() => resolve());
    });
    if (this.port === port) {
      this.port = null;
    }
  }

  write(data: Uint8Array): boolean {
    const port = this.port;
    if (!port?.isOpen) return false;
    port.write(data);
    return true;
  }
}

/** Raw serial over TCP (ser2net, RFC 2217-less raw mode), with Nagle off. */
export class TcpTransport extends EventEmitter<ByteTransportEvents> implements ByteTransport {
  private socket: net.Socket | null = null;
  private readonly host: string;
  private readonly port: number;

  constructor(
    readonly url: string,
    private readonly opts: TransportOptions = {},
  ) {
    super();
    const u = new URL(url);
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(u.port);
    if (!this.host || !Number.isInteger(this.port) || this.port <= 0) {
      throw new Error(`Invalid tcp transport URL "${url}": expected tcp://host:port`);
    }
  }

  get isOpen(): boolean {
    return this.socket !== null && !this.socket.destroyed;
  }

  open(): Promise<void> {
    if (this.socket) return Promise.reject(new Error(`tcp transport ${this.url} already open`));
    return new Promise<void>((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
      const timer = setTimeout(
        () => socket.destroy(new Error(`connect timeout to ${this.url}`)),
        this.opts.connectTimeoutMs ?? 3000,
      );
      const onError = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        socket.setNoDelay(true);
        socket.setKeepAlive(true, 5000);
        this.socket = socket;
        socket.on('data', (chunk) => this.emit('data', chunk));
        socket.on('error', (err) => this.emitError(err));
        socket.on('close', () => {
          if (this.socket === socket) this.socket = null;
          this.emit('close');
        });
        resolve();
      });
    });
  }

  private emitError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  close(): Promise<void> {
    const socket = this.socket;
    if (!socket) return Promise.resolve();
    return new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      setTimeout(() => socket.destroy(), 200).unref();
    });
  }

  write(data: Uint8Array): boolean {
    const s = this.socket;
    if (!s || s.destroyed) return false;
    s.write(data);
    return true;
  }
}
