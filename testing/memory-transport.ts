import { EventEmitter } from 'node:events';
import type { ByteTransport, ByteTransportEvents } from '../devices/vending/transport.ts';

/**
 * One end of an in-memory duplex pair. Bytes written to one end arrive at
 * the other on a later tick (like real I/O), only while both ends are open.
 * `filter` lets a test drop or rewrite chunks in flight.
 */
export class MemoryTransport extends EventEmitter<ByteTransportEvents> implements ByteTransport {
  peer: MemoryTransport | null = null;
  /** Return null to drop the chunk, or the bytes to deliver instead. */
  filter: ((chunk: Buffer) => Uint8Array | null) | null = null;
  private opened = false;
  /** Bytes written by this end (after filter), for tests. */
  written = 0;

  constructor(readonly url: string) {
    super();
  }

  get isOpen(): boolean {
    return this.opened;
  }

  async open(): Promise<void> {
    this.opened = true;
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    this.emit('close');
  }

  /** Simulates the far side vanishing without a close event (a yanked USB adapter). */
  sever(): void {
    this.peer = null;
  }

  write(data: Uint8Array): boolean {
    if (!this.opened) return false;
    let chunk: Uint8Array | null = Buffer.from(data);
    if (this.filter) chunk = this.filter(chunk as Buffer);
    if (!chunk || chunk.length === 0) return true;
    const peer = this.peer;
    if (!peer?.opened) return true; // nobody listening on the other end: bytes are lost, as on a wire
    this.written += chunk.length;
    const bytes = Buffer.from(chunk);
    setImmediate(() => {
      if (peer.opened && this.opened) peer.emit('data', bytes);
    });
    return true;
  }
}

/** An in-memory transport pair: `host` talks to `device`. */
export function createMemoryTransportPair(name = 'mem'): { host: MemoryTransport; device: MemoryTransport } {
  const host = new MemoryTransport(`memory://${name}/host`);
  const device = new MemoryTransport(`memory://${name}/device`);
  host.peer = device;
  device.peer = host;
  return { host, device };
}
