/**
 * The units of the DEX/UCS link on the wire, both ways: single control
 * characters (ENQ, EOT, NAK), the DLE-prefixed acknowledgements (DLE '0',
 * DLE '1', DLE ';' = WACK), and blocks
 *
 *   DLE SOH <handshake text> DLE ETX <crc lo> <crc hi>
 *   DLE STX <data> DLE ETB|ETX <crc lo> <crc hi>
 *
 * The CRC-16 (crc16.ts) covers the text after DLE SOH/STX and the
 * terminating ETB or ETX, not the DLEs of the framing. A DLE inside the data
 * is sent doubled (DLE DLE, the transparency rule of DEX/UCS inherited from
 * binary synchronous communication) and counts once in the CRC.
 *
 * `LinkDecoder` turns bytes, in whatever chunks they arrive, back into
 * units; it is bounded (a block longer than `maxBlockBytes` is an error, not
 * a growing buffer) and never throws on garbage: a stray byte outside a
 * block is reported as `junk`.
 */
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { ACK0, ACK1, DLE, ENQ, EOT, ETB, ETX, NAK, SOH, STX, WACK } from './control.ts';
import { crc16 } from './crc16.ts';

export type LinkUnit =
  | { type: 'enq' }
  | { type: 'eot' }
  | { type: 'nak' }
  | { type: 'ack'; n: 0 | 1 }
  | { type: 'wack' }
  | {
      type: 'block';
      /** SOH: a handshake; STX: audit data. */
      start: 'SOH' | 'STX';
      /** ETB: more blocks follow; ETX: the last one. */
      end: 'ETB' | 'ETX';
      data: Buffer;
      /** The CRC received matches the one computed. */
      crcOk: boolean;
    }
  | { type: 'junk'; byte: number };

/** The default bound on one block's data: DEX/UCS blocks are at most about 245 bytes; twice that leaves room. */
export const DEFAULT_MAX_BLOCK_BYTES = 512;

/** The bytes of a block (stuffing DLEs in the data, the CRC low byte first). */
export function encodeBlock(start: 'SOH' | 'STX', data: Uint8Array, end: 'ETB' | 'ETX'): Buffer {
  const endByte = end === 'ETB' ? ETB : ETX;
  const crc = crc16(Uint8Array.of(endByte), crc16(data));
  const out: number[] = [DLE, start === 'SOH' ? SOH : STX];
  for (const b of data) {
    out.push(b);
    if (b === DLE) out.push(DLE);
  }
  out.push(DLE, endByte, crc & 0xff, crc >>> 8);
  return Buffer.from(out);
}

/** The bytes of a single unit (for blocks, see encodeBlock; `crcOk: false` sends a wrong CRC on purpose). */
export function encodeUnit(u: LinkUnit): Buffer {
  switch (u.type) {
    case 'enq':
      return Buffer.of(ENQ);
    case 'eot':
      return Buffer.of(EOT);
    case 'nak':
      return Buffer.of(NAK);
    case 'ack':
      return Buffer.of(DLE, u.n === 0 ? ACK0 : ACK1);
    case 'wack':
      return Buffer.of(DLE, WACK);
    case 'junk':
      return Buffer.of(u.byte);
    case 'block': {
      const b = encodeBlock(u.start, u.data, u.end);
      if (!u.crcOk) b[b.length - 1] = b[b.length - 1]! ^ 0xff;
      return b;
    }
  }
}

type State = 'idle' | 'dle' | 'data' | 'data-dle' | 'crc-lo' | 'crc-hi';

export class LinkDecoder {
  #state: State = 'idle';
  #start: 'SOH' | 'STX' = 'STX';
  #end: 'ETB' | 'ETX' = 'ETX';
  #data: number[] = [];
  #crcLo = 0;
  readonly #maxBlockBytes: number;

  constructor(opts: { maxBlockBytes?: number } = {}) {
    this.#maxBlockBytes = opts.maxBlockBytes ?? DEFAULT_MAX_BLOCK_BYTES;
  }

  /** True while inside a block or a DLE sequence: bytes have been taken that are not a unit yet. */
  get midUnit(): boolean {
    return this.#state !== 'idle';
  }

  reset(): void {
    this.#state = 'idle';
    this.#data = [];
  }

  /** Feeds bytes; returns the units they complete, in order. Throws DexTooLarge for an oversized block. */
  push(chunk: Uint8Array): LinkUnit[] {
    const out: LinkUnit[] = [];
    for (const b of chunk) {
      const u = this.#byte(b);
      if (u) out.push(u);
    }
    return out;
  }

  #byte(b: number): LinkUnit | undefined {
    switch (this.#state) {
      case 'idle':
        if (b === DLE) {
          this.#state = 'dle';
          return undefined;
        }
        if (b === ENQ) return { type: 'enq' };
        if (b === EOT) return { type: 'eot' };
        if (b === NAK) return { type: 'nak' };
        return { type: 'junk', byte: b };
      case 'dle':
        this.#state = 'idle';
        if (b === ACK0) return { type: 'ack', n: 0 };
        if (b === ACK1) return { type: 'ack', n: 1 };
        if (b === WACK) return { type: 'wack' };
        if (b === SOH || b === STX) {
          this.#start = b === SOH ? 'SOH' : 'STX';
          this.#data = [];
          this.#state = 'data';
          return undefined;
        }
        return { type: 'junk', byte: b };
      case 'data':
        if (b === DLE) this.#state = 'data-dle';
        else this.#add(b);
        return undefined;
      case 'data-dle':
        if (b === DLE) {
          this.#add(DLE);
          this.#state = 'data';
        } else if (b === ETB || b === ETX) {
          this.#end = b === ETB ? 'ETB' : 'ETX';
          this.#state = 'crc-lo';
        } else {
          // DLE followed by anything else inside a block: the block is broken; report what came so far as junk.
          this.#state = 'idle';
          this.#data = [];
          return { type: 'junk', byte: b };
        }
        return undefined;
      case 'crc-lo':
        this.#crcLo = b;
        this.#state = 'crc-hi';
        return undefined;
      case 'crc-hi': {
        this.#state = 'idle';
        const data = Buffer.from(this.#data);
        this.#data = [];
        const endByte = this.#end === 'ETB' ? ETB : ETX;
        const want = crc16(Uint8Array.of(endByte), crc16(data));
        const got = this.#crcLo | (b << 8);
        return { type: 'block', start: this.#start, end: this.#end, data, crcOk: want === got };
      }
    }
  }

  #add(b: number): void {
    if (this.#data.length >= this.#maxBlockBytes) {
      this.#state = 'idle';
      this.#data = [];
      throw new VendgateError(
        ErrorCode.DexTooLarge,
        `a DEX/UCS block is longer than ${this.#maxBlockBytes} bytes`,
        { maxBlockBytes: this.#maxBlockBytes },
      );
    }
    this.#data.push(b);
  }
}
