/**
 * VSB (vendgate slot board) framing codec. Pure: bytes in, frames out, and
 * back. No I/O, no timers.
 *
 * Wire format: docs/protocols/slot-board.md, section 2 "Frame layout":
 *
 *   FA FB | command | length | seq | payload[length] | xor
 *
 * `xor` is the XOR of every preceding byte of the frame, header included.
 * Payload is at most 64 bytes (section 2), so a frame is 6..70 bytes.
 */

/** Section 2: the two header bytes. */
export const HEADER_0 = 0xfa;
export const HEADER_1 = 0xfb;
/** Section 2: header(2) + command + length + seq + checksum. */
export const FRAME_OVERHEAD = 6;
export const MAX_PAYLOAD = 64;
export const MAX_FRAME = FRAME_OVERHEAD + MAX_PAYLOAD;

/** Section 3 "Commands". */
export const Command = {
  Poll: 0x01,
  Ack: 0x02,
  Dispense: 0x10,
  QueryVend: 0x11,
  GetInfo: 0x12,
  /** Protocol 3 (section 3.10): ask for the door and temperature report. */
  GetSensors: 0x13,
  /** Protocol 3 (section 3.11): ask for the sensed stock levels, a page at a time. */
  GetStock: 0x14,
  /** Protocol 3 (section 3.12): restart the board. */
  Reset: 0x15,
  DispenseProgress: 0x20,
  DispenseResult: 0x21,
  VendStatus: 0x22,
  Info: 0x23,
  /** Protocol 3 (section 3.13): door and cabinet temperature, on change and on GET_SENSORS. */
  Sensors: 0x24,
  /** Protocol 3 (section 3.14): one page of sensed stock levels, answering GET_STOCK. */
  Stock: 0x25,
} as const;
export type CommandCode = (typeof Command)[keyof typeof Command];

/** A decoded frame: transport-level fields plus the raw payload. */
export interface Frame {
  command: number;
  seq: number;
  payload: Uint8Array;
  /** The checksum byte as received (used with seq and command to dedupe resends, section 4.3). */
  checksum: number;
}

/** XOR of `bytes[start..end)`. */
export function xorChecksum(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let x = 0;
  for (let i = start; i < end; i++) x ^= bytes[i]!;
  return x;
}

/** Encodes one frame (section 2). Throws RangeError on out-of-range fields. */
export function encodeFrame(command: number, seq: number, payload: Uint8Array = EMPTY): Buffer {
  if (payload.length > MAX_PAYLOAD)
    throw new RangeError(`VSB payload too long: ${payload.length} > ${MAX_PAYLOAD}`);
  if (!isByte(command)) throw new RangeError(`VSB command out of range: ${command}`);
  if (!isByte(seq)) throw new RangeError(`VSB seq out of range: ${seq}`);
  const out = Buffer.allocUnsafe(FRAME_OVERHEAD + payload.length);
  out[0] = HEADER_0;
  out[1] = HEADER_1;
  out[2] = command;
  out[3] = payload.length;
  out[4] = seq;
  out.set(payload, 5);
  out[out.length - 1] = xorChecksum(out, 0, out.length - 1);
  return out;
}

const EMPTY = new Uint8Array(0);

function isByte(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xff;
}

/**
 * ACK frames depend only on the acknowledged seq (section 4.1), so all 256
 * are built once and shared: acknowledging allocates nothing.
 */
export const ACK_FRAMES: readonly Buffer[] = Array.from({ length: 256 }, (_, seq) =>
  encodeFrame(Command.Ack, seq),
);

export interface FrameDecoderStats {
  frames: number;
  /** Bytes dropped while hunting for a header or after a bad length/checksum. */
  discardedBytes: number;
  badChecksums: number;
  badLengths: number;
}

export interface FrameDecoderOptions {
  /** Internal buffer capacity in bytes; at least MAX_FRAME. Default 512. */
  bufferSize?: number;
}

/**
 * Streaming decoder (section 5 "Receiving"). Feed it chunks of any size; it
 * emits every valid frame and resyncs on junk:
 *
 * - bytes before a `FA FB` header are discarded;
 * - a length above 64 or a checksum mismatch discards ONE byte (the `FA`) and
 *   rescans, so a valid frame hidden right behind a false header is found;
 * - frames split across chunks at any offset are reassembled.
 *
 * The buffer is a fixed-size array: a partial frame is never longer than
 * MAX_FRAME, so memory stays bounded whatever comes in.
 */
export class FrameDecoder {
  readonly stats: FrameDecoderStats = { frames: 0, discardedBytes: 0, badChecksums: 0, badLengths: 0 };
  private readonly buf: Uint8Array;
  private start = 0;
  private end = 0;

  constructor(opts: FrameDecoderOptions = {}) {
    const size = opts.bufferSize ?? 512;
    if (!Number.isInteger(size) || size < MAX_FRAME) {
      throw new RangeError(`FrameDecoder bufferSize must be an integer >= ${MAX_FRAME}`);
    }
    this.buf = new Uint8Array(size);
  }

  /** Bytes currently held (a partial frame or an undecided header byte). */
  get buffered(): number {
    return this.end - this.start;
  }

  /** Drops any partial frame, e.g. after the port was reopened. */
  reset(): void {
    this.stats.discardedBytes += this.end - this.start;
    this.start = 0;
    this.end = 0;
  }

  /** Feeds a chunk and calls `onFrame` for each complete valid frame, in order. */
  feed(chunk: Uint8Array, onFrame: (frame: Frame) => void): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.start > 0 && this.end === this.buf.length) this.compact();
      const n = Math.min(chunk.length - offset, this.buf.length - this.end);
      this.buf.set(chunk.subarray(offset, offset + n), this.end);
      this.end += n;
      offset += n;
      this.scan(onFrame);
    }
  }

  /** Convenience: feeds a chunk and returns the frames it completed. */
  push(chunk: Uint8Array): Frame[] {
    const out: Frame[] = [];
    this.feed(chunk, (f) => out.push(f));
    return out;
  }

  private compact(): void {
    this.buf.copyWithin(0, this.start, this.end);
    this.end -= this.start;
    this.start = 0;
  }

  private discard(n: number): void {
    this.start += n;
    this.stats.discardedBytes += n;
  }

  private scan(onFrame: (frame: Frame) => void): void {
    const buf = this.buf;
    for (;;) {
      // Hunt for FA FB.
      let i = this.start;
      while (i < this.end && !(buf[i] === HEADER_0 && (i + 1 === this.end || buf[i + 1] === HEADER_1))) i++;
      if (i > this.start) this.discard(i - this.start);
      const avail = this.end - this.start;
      if (avail < FRAME_OVERHEAD) break;
      const s = this.start;
      const len = buf[s + 3]!;
      if (len > MAX_PAYLOAD) {
        this.stats.badLengths++;
        this.discard(1);
        continue;
      }
      const total = FRAME_OVERHEAD + len;
      if (avail < total) break;
      const ck = buf[s + total - 1]!;
      if (xorChecksum(buf, s, s + total - 1) !== ck) {
        this.stats.badChecksums++;
        this.discard(1);
        continue;
      }
      const frame: Frame = {
        command: buf[s + 2]!,
        seq: buf[s + 4]!,
        payload: buf.slice(s + 5, s + 5 + len),
        checksum: ck,
      };
      this.start += total;
      this.stats.frames++;
      onFrame(frame);
    }
    if (this.start === this.end) {
      this.start = 0;
      this.end = 0;
    }
  }
}
