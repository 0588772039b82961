/**
 * The link units arriving on a byte transport, one at a time, with a
 * deadline per wait: what the DEX/UCS master (link.ts) and the simulated
 * machine read from. Stray bytes outside a block are counted and skipped,
 * not queued; a decoder error (an oversized block) fails the current or
 * next wait.
 */
import type { ByteTransport } from '../vending/transport.ts';
import { LinkDecoder, type LinkUnit } from './frames.ts';

export type ArrivedUnit = Exclude<LinkUnit, { type: 'junk' }>;

/** A wait ran out: `midUnit` says whether it stopped inside a block (bytes had come). */
export class UnitTimeout extends Error {
  constructor(
    readonly midUnit: boolean,
    readonly waitedMs: number,
  ) {
    super(`no DEX/UCS unit within ${waitedMs} ms`);
  }
}

export class UnitQueue {
  readonly #decoder: LinkDecoder;
  readonly #units: ArrivedUnit[] = [];
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  #junk = 0;
  #disposed = false;
  #bytes = 0;
  readonly #onData = (chunk: Buffer): void => {
    this.#bytes += chunk.length;
    try {
      for (const u of this.#decoder.push(chunk)) {
        if (u.type === 'junk') this.#junk++;
        else this.#units.push(u);
      }
    } catch (err) {
      this.#error = err as Error;
    }
    this.#wake?.();
  };

  constructor(
    readonly transport: ByteTransport,
    opts: { maxBlockBytes?: number } = {},
  ) {
    this.#decoder = new LinkDecoder(opts);
    transport.on('data', this.#onData);
  }

  /** Bytes outside any unit, skipped so far. */
  get junk(): number {
    return this.#junk;
  }

  /** Every byte received so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Forgets queued units and any half-received one. */
  clear(): void {
    this.#units.length = 0;
    this.#decoder.reset();
    this.#error = null;
  }

  /** The next unit, or a UnitTimeout after `timeoutMs`; a decoder error is thrown as it is. */
  async next(timeoutMs: number): Promise<ArrivedUnit> {
    for (;;) {
      if (this.#disposed) throw new UnitTimeout(false, 0);
      if (this.#error) {
        const e = this.#error;
        this.#error = null;
        throw e;
      }
      const u = this.#units.shift();
      if (u) return u;
      const woke = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          this.#wake = null;
          resolve(false);
        }, timeoutMs);
        this.#wake = () => {
          clearTimeout(timer);
          this.#wake = null;
          resolve(true);
        };
      });
      if (!woke && this.#units.length === 0 && !this.#error)
        throw new UnitTimeout(this.#decoder.midUnit, timeoutMs);
    }
  }

  /** Stops listening; a pending or later wait ends at once with a UnitTimeout. */
  dispose(): void {
    this.#disposed = true;
    this.transport.off('data', this.#onData);
    this.#wake?.();
  }
}
