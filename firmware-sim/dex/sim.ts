/**
 * A vending machine's DEX port, simulated: the slave side of the DEX/UCS
 * link (devices/dex/link.ts has the sequence; docs/protocols/dex.md), on a
 * real byte transport, sending the audit text it was given. It answers the
 * first handshake, runs the second one as master, then sends the audit in
 * blocks of `blockBytes`, each acknowledged DLE '1', DLE '0', ...
 * alternating, resending a block the reader refuses with NAK.
 *
 * Faults for tests, each for the next transfer (or the next N blocks):
 * `corrupt-crc` (blocks with a wrong CRC), `truncate` (the audit ends early
 * in a well-formed last block), `stall` (stops in the middle of a block and
 * says nothing more), `silent` (does not answer the ENQ).
 */
import { EventEmitter } from 'node:events';
import { COMM_ID_LENGTH, REVISION_LEVEL } from '../../devices/dex/control.ts';
import { encodeUnit, type LinkUnit } from '../../devices/dex/frames.ts';
import { type ArrivedUnit, UnitQueue, UnitTimeout } from '../../devices/dex/unit-queue.ts';
import type { ByteTransport } from '../../devices/vending/transport.ts';

export type DexSimFault =
  | { fault: 'corrupt-crc'; count?: number }
  | { fault: 'truncate'; fraction?: number }
  | { fault: 'stall'; afterBlocks?: number }
  | { fault: 'silent' }
  | { fault: 'clear' };

export interface DexSimOptions {
  /** The audit text to send (CR LF lines, DXS ... DXE). */
  audit: string;
  /** The machine's 10-character communication id. Default "SIMDEX0001". */
  communicationId?: string;
  /** Data bytes per block. Default 245 (EVA-DTS DEX/UCS blocks are at most about 245 bytes). */
  blockBytes?: number;
  /** How long it waits for each answer of the reader, ms. Default 3000. */
  answerTimeoutMs?: number;
  /** Times a refused block is sent again before the machine gives up. Default 5. */
  maxResends?: number;
}

export interface DexSimEvents {
  /** A reader's first handshake arrived. */
  'read-begin': [readerId: string];
  /** A transfer ended: every block acknowledged, or why not. */
  'read-end': [result: { ok: boolean; blocks: number; bytes: number; resends: number; reason?: string }];
  fault: [fault: DexSimFault];
}

class Abort extends Error {}

export class DexMachineSim extends EventEmitter<DexSimEvents> {
  #audit: string;
  readonly #commId: string;
  readonly #blockBytes: number;
  readonly #answerMs: number;
  readonly #maxResends: number;
  #queue: UnitQueue | null = null;
  #running = false;
  #corrupt = 0;
  #truncate: number | null = null;
  #stallAfter: number | null = null;
  #silent = false;
  #loop: Promise<void> | null = null;

  constructor(
    readonly transport: ByteTransport,
    opts: DexSimOptions,
  ) {
    super();
    this.#audit = opts.audit;
    this.#commId = (opts.communicationId ?? 'SIMDEX0001')
      .padEnd(COMM_ID_LENGTH, '0')
      .slice(0, COMM_ID_LENGTH);
    this.#blockBytes = opts.blockBytes ?? 245;
    this.#answerMs = opts.answerTimeoutMs ?? 3000;
    this.#maxResends = opts.maxResends ?? 5;
  }

  /** The audit sent from the next transfer on. */
  setAudit(text: string): void {
    this.#audit = text;
  }

  applyFault(f: DexSimFault): void {
    switch (f.fault) {
      case 'corrupt-crc':
        this.#corrupt = f.count ?? 1;
        break;
      case 'truncate':
        this.#truncate = f.fraction ?? 0.5;
        break;
      case 'stall':
        this.#stallAfter = f.afterBlocks ?? 1;
        break;
      case 'silent':
        this.#silent = true;
        break;
      case 'clear':
        this.#corrupt = 0;
        this.#truncate = null;
        this.#stallAfter = null;
        this.#silent = false;
        break;
    }
    this.emit('fault', f);
  }

  async start(): Promise<void> {
    if (!this.transport.isOpen) await this.transport.open();
    this.#queue = new UnitQueue(this.transport, { maxBlockBytes: 64 });
    this.#running = true;
    this.#loop = this.#serve();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#queue?.dispose();
    await this.#loop?.catch(() => {});
    await this.transport.close();
  }

  async #serve(): Promise<void> {
    const q = this.#queue!;
    while (this.#running) {
      let u: ArrivedUnit;
      try {
        u = await q.next(500);
      } catch {
        continue; // idle: nobody is asking
      }
      if (u.type !== 'enq') continue;
      if (this.#silent) {
        this.#silent = false;
        this.#drain(q);
        continue;
      }
      try {
        await this.#session(q);
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        this.emit('read-end', { ok: false, blocks: 0, bytes: 0, resends: 0, reason });
        q.clear();
      }
    }
  }

  /** Ignores what the reader sends for a moment (it gives up on a silent machine after its ENQs). */
  #drain(q: UnitQueue): void {
    q.clear();
  }

  #send(u: LinkUnit | Buffer): void {
    this.transport.write(Buffer.isBuffer(u) ? u : encodeUnit(u));
  }

  async #expect(q: UnitQueue, want: (u: ArrivedUnit) => boolean, what: string): Promise<ArrivedUnit> {
    let u: ArrivedUnit;
    try {
      u = await q.next(this.#answerMs);
    } catch (err) {
      if (err instanceof UnitTimeout) throw new Abort(`no ${what} from the reader`);
      throw err;
    }
    if (!want(u)) throw new Abort(`expected ${what}, got ${u.type}`);
    return u;
  }

  /** Sends a block and waits for acknowledgement `ack`, resending it on NAK. Returns the resends. */
  async #sendBlock(
    q: UnitQueue,
    start: 'SOH' | 'STX',
    data: Buffer,
    end: 'ETB' | 'ETX',
    ack: 0 | 1,
  ): Promise<number> {
    for (let resends = 0; ; resends++) {
      const corrupt = start === 'STX' && this.#corrupt > 0;
      if (corrupt) this.#corrupt--;
      this.#send({ type: 'block', start, data, end, crcOk: !corrupt });
      const u = await this.#expect(q, (x) => x.type === 'ack' || x.type === 'nak', `DLE ${ack} or NAK`);
      if (u.type === 'ack') {
        if (u.n !== ack) throw new Abort(`expected DLE ${ack}, got DLE ${u.n}`);
        return resends;
      }
      if (resends >= this.#maxResends) throw new Abort(`block refused ${resends + 1} times`);
    }
  }

  async #session(q: UnitQueue): Promise<void> {
    // First handshake: the reader is master.
    this.#send({ type: 'ack', n: 0 });
    const hs = await this.#expect(q, (u) => u.type === 'block' && u.start === 'SOH', 'the first handshake');
    if (hs.type !== 'block' || !hs.crcOk) {
      this.#send({ type: 'nak' });
      throw new Abort('first handshake with a bad CRC');
    }
    const text = hs.data.toString('latin1');
    const readerId = text.slice(0, COMM_ID_LENGTH);
    this.emit('read-begin', readerId);
    this.#send({ type: 'ack', n: 1 });
    await this.#expect(q, (u) => u.type === 'eot', 'EOT after the first handshake');

    // Second handshake: the machine is master.
    this.#send({ type: 'enq' });
    await this.#expect(q, (u) => u.type === 'ack' && u.n === 0, 'DLE 0 after ENQ');
    await this.#sendBlock(q, 'SOH', Buffer.from(`00${this.#commId}${REVISION_LEVEL}`, 'latin1'), 'ETX', 1);
    this.#send({ type: 'eot' });

    // Data transfer.
    this.#send({ type: 'enq' });
    await this.#expect(q, (u) => u.type === 'ack' && u.n === 0, 'DLE 0 before the data');
    let audit = Buffer.from(this.#audit, 'latin1');
    if (this.#truncate !== null) {
      audit = audit.subarray(0, Math.max(1, Math.floor(audit.length * this.#truncate)));
      this.#truncate = null;
    }
    const stallAfter = this.#stallAfter;
    this.#stallAfter = null;
    const blocks: Buffer[] = [];
    for (let i = 0; i < audit.length; i += this.#blockBytes)
      blocks.push(audit.subarray(i, i + this.#blockBytes));
    let ack: 0 | 1 = 1;
    let resends = 0;
    for (let i = 0; i < blocks.length; i++) {
      if (stallAfter !== null && i === stallAfter) {
        // Half a block, then nothing: a machine that died in the middle of the transfer.
        this.#send(
          Buffer.concat([Buffer.from([0x10, 0x02]), blocks[i]!.subarray(0, blocks[i]!.length >> 1)]),
        );
        throw new Abort(`stalled in block ${i + 1} on purpose`);
      }
      resends += await this.#sendBlock(q, 'STX', blocks[i]!, i === blocks.length - 1 ? 'ETX' : 'ETB', ack);
      ack = ack === 1 ? 0 : 1;
    }
    this.#send({ type: 'eot' });
    this.emit('read-end', { ok: true, blocks: blocks.length, bytes: audit.length, resends });
  }
}
