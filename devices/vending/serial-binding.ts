import { readSync, writeSync } from 'node:fs';
import {
  type BindingInterface,
  type BindingPortInterface,
  LinuxBinding,
  type LinuxOpenOptions,
  type LinuxPortBinding,
  type OpenOptions,
  type PortInfo,
  type PortStatus,
  type SetOptions,
  type UpdateOptions,
} from '@serialport/bindings-cpp';

/**
 * node-serialport's Linux binding with a cheaper I/O path for the small,
 * frequent frames vending controllers speak.
 *
 * The stock binding reads and writes with async `fs.read`/`fs.write`, which
 * run on libuv's thread pool: every read is a thread hop that usually ends
 * in EAGAIN (an Error with a stack trace), then a wait for the poller, then
 * a second thread hop; every write is a third. Profiled under a burst of
 * vends, that was the largest single cost of the gateway process after
 * SQLite. This binding keeps everything else from the stock one (open with
 * the termios settings, lock, close, flush, set/get, and the poller on the
 * non-blocking fd, all from @serialport/bindings-cpp) and does the I/O on
 * the event loop: wait until the poller says readable, then one `readSync`
 * that cannot block (the fd is O_NONBLOCK); write with `writeSync` and fall
 * back to waiting for writable only when the kernel buffer is full.
 */
export const DirectIoLinuxBinding: BindingInterface<DirectIoPort, LinuxOpenOptions> = {
  list(): Promise<PortInfo[]> {
    return LinuxBinding.list();
  },
  async open(options: LinuxOpenOptions): Promise<DirectIoPort> {
    return new DirectIoPort(await LinuxBinding.open(options));
  },
};

/** The codes after which a read or write is simply retried once the fd is ready. */
const RETRY = new Set(['EAGAIN', 'EWOULDBLOCK', 'EINTR']);
/** The codes that mean the device went away (USB adapter unplugged, pty closed). */
const GONE = new Set(['EBADF', 'ENXIO', 'EIO', 'UNKNOWN']);

type Poller = LinuxPortBinding['poller'];

function canceled(): Error {
  return Object.assign(new Error('Port is not open'), { canceled: true });
}

function ready(poller: Poller, event: 'readable' | 'writable'): Promise<void> {
  return new Promise((resolve, reject) => {
    poller.once(event, (err?: Error | null) => (err ? reject(err) : resolve()));
  });
}

function markDisconnect(err: NodeJS.ErrnoException): NodeJS.ErrnoException {
  if (err.code && GONE.has(err.code)) Object.assign(err, { disconnect: true });
  return err;
}

export class DirectIoPort implements BindingPortInterface {
  readonly #inner: LinuxPortBinding;
  #writing: Promise<void> | null = null;

  constructor(inner: LinuxPortBinding) {
    this.#inner = inner;
  }

  get isOpen(): boolean {
    return this.#inner.isOpen;
  }

  get openOptions(): Required<OpenOptions> {
    return this.#inner.openOptions;
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  async read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    if (buffer.length < offset + length) throw new Error('buffer is too small');
    for (;;) {
      // Waiting first (rather than trying first) spares the EAGAIN that
      // almost every read right after the previous one would hit.
      await ready(this.#inner.poller, 'readable');
      const fd = this.#inner.fd;
      if (fd === null) throw canceled();
      try {
        const bytesRead = readSync(fd, buffer, offset, length, null);
        if (bytesRead > 0) return { buffer, bytesRead };
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (!e.code || !RETRY.has(e.code)) throw markDisconnect(e);
      }
    }
  }

  write(buffer: Buffer): Promise<void> {
    // The stream writes one chunk at a time (it awaits this promise before
    // the next), and drain() waits for the last one, as in the stock binding.
    this.#writing = this.#writeAll(buffer);
    return this.#writing;
  }

  async #writeAll(buffer: Buffer): Promise<void> {
    let offset = 0;
    while (offset < buffer.length) {
      const fd = this.#inner.fd;
      if (fd === null) throw new Error('Port is not open');
      try {
        offset += writeSync(fd, buffer, offset, buffer.length - offset);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (!e.code || !RETRY.has(e.code)) throw markDisconnect(e);
        await ready(this.#inner.poller, 'writable');
      }
    }
  }

  update(options: UpdateOptions): Promise<void> {
    return this.#inner.update(options);
  }

  set(options: SetOptions): Promise<void> {
    return this.#inner.set(options);
  }

  get(): Promise<PortStatus> {
    return this.#inner.get();
  }

  getBaudRate(): Promise<{ baudRate: number }> {
    return this.#inner.getBaudRate();
  }

  flush(): Promise<void> {
    return this.#inner.flush();
  }

  async drain(): Promise<void> {
    await this.#writing?.catch(() => {});
    return this.#inner.drain();
  }
}
