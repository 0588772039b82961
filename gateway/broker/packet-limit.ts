import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/** Why a connection's byte stream was cut off before it reached the broker. */
export type PacketViolation =
  | { kind: 'too-large'; packetType: number; announcedBytes: number; maxPacketSize: number }
  | { kind: 'malformed-length'; packetType: number }
  | { kind: 'not-connect-first'; packetType: number };

const CONNECT = 1;
/** MQTT 3.1.1 section 2.2.3: the Remaining Length takes at most four bytes. */
const MAX_LENGTH_BYTES = 4;

/**
 * Follows packet boundaries in an MQTT byte stream by reading only each fixed
 * header (section 2.2: one type byte, then the Remaining Length as a 1-4 byte
 * variable-length integer) and skipping the announced number of bytes. It
 * never holds packet bytes itself, so a packet's size is known - and refused -
 * from its first two to five bytes, before anything of its payload is
 * buffered anywhere.
 */
export class PacketBoundaryScanner {
  readonly maxPacketSize: number;
  /** Complete packets seen so far. */
  packets = 0;
  #state: 'type' | 'length' | 'body' = 'type';
  #type = 0;
  #length = 0;
  #multiplier = 1;
  #lengthBytes = 0;
  #remaining = 0;
  #violation: PacketViolation | undefined;

  constructor(maxPacketSize: number) {
    this.maxPacketSize = maxPacketSize;
  }

  /** Consumes the next bytes; the first violation, once found, is returned for every later call too. */
  feed(chunk: Uint8Array): PacketViolation | undefined {
    let i = 0;
    while (i < chunk.length && this.#violation === undefined) {
      if (this.#state === 'body') {
        const take = Math.min(this.#remaining, chunk.length - i);
        i += take;
        this.#remaining -= take;
        if (this.#remaining === 0) this.#endPacket();
        continue;
      }
      const byte = chunk[i++]!;
      if (this.#state === 'type') {
        this.#type = byte >> 4;
        // [MQTT-3.1.0-1]: the first packet a client sends must be CONNECT.
        if (this.packets === 0 && this.#type !== CONNECT) {
          this.#violation = { kind: 'not-connect-first', packetType: this.#type };
          break;
        }
        this.#state = 'length';
        this.#length = 0;
        this.#multiplier = 1;
        this.#lengthBytes = 0;
        continue;
      }
      this.#length += (byte & 0x7f) * this.#multiplier;
      this.#multiplier *= 128;
      this.#lengthBytes++;
      if (byte & 0x80) {
        if (this.#lengthBytes === MAX_LENGTH_BYTES) {
          this.#violation = { kind: 'malformed-length', packetType: this.#type };
        }
        continue;
      }
      const total = 1 + this.#lengthBytes + this.#length;
      if (total > this.maxPacketSize) {
        this.#violation = {
          kind: 'too-large',
          packetType: this.#type,
          announcedBytes: total,
          maxPacketSize: this.maxPacketSize,
        };
        break;
      }
      this.#remaining = this.#length;
      this.#state = 'body';
      if (this.#remaining === 0) this.#endPacket();
    }
    return this.#violation;
  }

  #endPacket(): void {
    this.packets++;
    this.#state = 'type';
  }
}

/**
 * A TCP connection as the broker sees it, with the packet size bounded: bytes
 * pass through unchanged until a fixed header announces a packet over the
 * limit (or breaks the framing), and then the socket is destroyed at once.
 * aedes' parser (mqtt-packet) otherwise collects a whole packet of any
 * announced size (up to 256 MB, section 2.2.3) in memory before looking at it.
 * Reading is paced by the broker: when it stops reading, the socket is paused,
 * so nothing piles up here either.
 */
export class PacketLimitedConnection extends Duplex {
  readonly socket: Socket;
  readonly #scanner: PacketBoundaryScanner;

  constructor(socket: Socket, maxPacketSize: number, onViolation: (v: PacketViolation) => void) {
    super({ allowHalfOpen: false });
    this.socket = socket;
    this.#scanner = new PacketBoundaryScanner(maxPacketSize);
    socket.on('data', (chunk: Buffer) => {
      const violation = this.#scanner.feed(chunk);
      if (violation) {
        socket.pause();
        onViolation(violation);
        socket.destroy();
        this.destroy();
        return;
      }
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
  }

  /** The peer's address, as on the socket (the broker's loopback check reads it). */
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.socket.write(chunk, done);
  }

  override _writev(chunks: { chunk: Buffer }[], done: (err?: Error | null) => void): void {
    this.socket.write(
      chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)),
      done,
    );
  }

  override _final(done: (err?: Error | null) => void): void {
    this.socket.end(() => done());
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.socket.destroy();
    done(err);
  }
}
