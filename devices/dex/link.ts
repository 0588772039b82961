/**
 * The master side of the DEX/UCS link: the gateway reads a machine's audit
 * through its DEX jack (EVA-DTS 6.x, "DEX/UCS communication protocol"; the
 * sequence below is the one public DEX/UCS readers and machine firmware
 * implement, see docs/protocols/dex.md):
 *
 *   first handshake, the gateway is master:
 *     -> ENQ                         <- DLE '0'
 *     -> DLE SOH <comm id 10> 'R' <revision/level "R01L01"> DLE ETX crc
 *                                    <- DLE '1'
 *     -> EOT
 *   second handshake, the roles swap and the machine is master:
 *     <- ENQ                         -> DLE '0'
 *     <- DLE SOH <response code "00"> <comm id 10> <revision/level> DLE ETX crc
 *                                    -> DLE '1'
 *     <- EOT
 *   data transfer, the machine sends:
 *     <- ENQ                         -> DLE '0'
 *     <- DLE STX <data> DLE ETB crc  -> DLE '1'   (then DLE '0', DLE '1', ... alternating)
 *     <- DLE STX <data> DLE ETX crc  -> the next acknowledgement
 *     <- EOT
 *
 * A block with a bad CRC is answered NAK and the machine sends it again, up
 * to `maxRetransmissions` times. Everything is bounded: the time to each
 * answer, the silence inside the transfer, the whole read, one block's size
 * and the total size. Each failure is one catalogued error naming what
 * went wrong and where (which step, which block).
 */
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { ByteTransport } from '../vending/transport.ts';
import { COMM_ID_LENGTH, OP_READ, REVISION_LEVEL } from './control.ts';
import { DEFAULT_MAX_BLOCK_BYTES, encodeBlock, encodeUnit } from './frames.ts';
import { type ArrivedUnit, UnitQueue, UnitTimeout } from './unit-queue.ts';

export interface DexReadOptions {
  /** The gateway's 10-character communication id in the first handshake. Default "VENDGATE01". */
  communicationId?: string;
  /** How long the machine may take to answer a handshake step, ms. Default 2000. */
  answerTimeoutMs?: number;
  /** The longest silence allowed once the data transfer has begun, ms. Default 3000. */
  stallTimeoutMs?: number;
  /** The whole read, handshakes included, ms. Default 120 000 (a full audit at 9600 baud takes seconds). */
  totalTimeoutMs?: number;
  /** One block's data at most, bytes. Default 512. */
  maxBlockBytes?: number;
  /** The whole audit at most, bytes. Default 262 144. */
  maxBytes?: number;
  /** How often a block with a bad CRC may be asked for again. Default 3. */
  maxRetransmissions?: number;
  /** ENQs sent before giving up on a machine that does not answer. Default 3. */
  enqAttempts?: number;
}

export interface DexTransfer {
  /** The audit text as received (ASCII; any other byte kept as latin1). */
  text: string;
  bytes: number;
  blocks: number;
  /** Blocks that had to be sent again after a bad CRC. */
  retransmissions: number;
  /** What the machine said of itself in the second handshake. */
  machine: { communicationId: string; revisionLevel: string; responseCode: string };
  /** Not fatal, worth a log line: a missing final EOT, stray bytes. */
  warnings: string[];
}

export const DEX_READ_DEFAULTS = {
  communicationId: 'VENDGATE01',
  answerTimeoutMs: 2000,
  stallTimeoutMs: 3000,
  totalTimeoutMs: 120_000,
  maxBlockBytes: DEFAULT_MAX_BLOCK_BYTES,
  maxBytes: 262_144,
  maxRetransmissions: 3,
  enqAttempts: 3,
} as const satisfies Required<DexReadOptions>;

/** Reads one audit over an open transport. The transport stays open; the caller closes it. */
export async function readDexAudit(
  transport: ByteTransport,
  options: DexReadOptions = {},
): Promise<DexTransfer> {
  const o = { ...DEX_READ_DEFAULTS, ...options };
  if (o.communicationId.length !== COMM_ID_LENGTH || !/^[\x20-\x7e]+$/.test(o.communicationId))
    throw new VendgateError(
      ErrorCode.DexProtocol,
      `the communication id must be ${COMM_ID_LENGTH} printable ASCII characters`,
      { communicationId: o.communicationId },
    );
  const queue = new UnitQueue(transport, { maxBlockBytes: o.maxBlockBytes });
  const deadline = performance.now() + o.totalTimeoutMs;
  const warnings: string[] = [];
  const send = (bytes: Uint8Array, step: string): void => {
    if (!transport.write(bytes))
      throw new VendgateError(ErrorCode.DexPortUnavailable, `the DEX port closed while ${step}`, {
        port: transport.url,
        step,
      });
  };
  /** The next unit within `ms` (never past the whole read's deadline); a timeout becomes `onTimeout`'s error. */
  const next = async (ms: number, onTimeout: (t: UnitTimeout) => VendgateError): Promise<ArrivedUnit> => {
    const left = deadline - performance.now();
    if (left <= 0)
      throw new VendgateError(
        ErrorCode.DexStalled,
        `the DEX read did not finish within ${o.totalTimeoutMs} ms`,
      );
    try {
      return await queue.next(Math.min(ms, left));
    } catch (err) {
      if (err instanceof UnitTimeout) {
        if (performance.now() >= deadline)
          throw new VendgateError(
            ErrorCode.DexStalled,
            `the DEX read did not finish within ${o.totalTimeoutMs} ms`,
          );
        throw onTimeout(err);
      }
      throw err;
    }
  };
  const noAnswer = (step: string) => () =>
    new VendgateError(
      ErrorCode.DexNoAnswer,
      `the machine did not answer ${step} within ${o.answerTimeoutMs} ms`,
      {
        step,
      },
    );
  const unexpected = (u: ArrivedUnit, step: string): VendgateError =>
    new VendgateError(ErrorCode.DexProtocol, `the machine sent ${describe(u)} while ${step}`, { step });

  try {
    // ---------------------------------------------- first handshake (gateway is master)
    let answered = false;
    for (let attempt = 1; attempt <= o.enqAttempts && !answered; attempt++) {
      send(encodeUnit({ type: 'enq' }), 'asking to talk (ENQ)');
      try {
        const u = await next(o.answerTimeoutMs, noAnswer('the ENQ'));
        if (u.type !== 'ack' || u.n !== 0) throw unexpected(u, 'waiting for DLE 0 after ENQ');
        answered = true;
      } catch (err) {
        if (
          !(err instanceof VendgateError) ||
          err.code !== ErrorCode.DexNoAnswer ||
          attempt === o.enqAttempts
        )
          throw err;
      }
    }
    const request = Buffer.from(`${o.communicationId}${OP_READ}${REVISION_LEVEL}`, 'latin1');
    send(encodeBlock('SOH', request, 'ETX'), 'sending the first handshake');
    {
      const u = await next(o.answerTimeoutMs, noAnswer('the first handshake'));
      if (u.type === 'nak')
        throw new VendgateError(ErrorCode.DexProtocol, 'the machine refused the first handshake (NAK)', {
          step: 'first handshake',
        });
      if (u.type !== 'ack' || u.n !== 1) throw unexpected(u, 'waiting for DLE 1 after the first handshake');
    }
    send(encodeUnit({ type: 'eot' }), 'ending the first handshake');

    // ---------------------------------------------- second handshake (machine is master)
    await expectEnq(next, o.answerTimeoutMs, 'the second handshake', unexpected);
    send(encodeUnit({ type: 'ack', n: 0 }), 'answering the second ENQ');
    let machine: DexTransfer['machine'] | undefined;
    for (let tries = 0; !machine; tries++) {
      const u = await next(o.answerTimeoutMs, noAnswer('with its second handshake'));
      if (u.type !== 'block' || u.start !== 'SOH') throw unexpected(u, 'waiting for the second handshake');
      if (!u.crcOk) {
        if (tries >= o.maxRetransmissions) throw crcError('the second handshake', tries + 1);
        send(encodeUnit({ type: 'nak' }), 'refusing a damaged second handshake');
        continue;
      }
      machine = parseSlaveHandshake(u.data);
    }
    send(encodeUnit({ type: 'ack', n: 1 }), 'acknowledging the second handshake');
    {
      const u = await next(o.answerTimeoutMs, noAnswer('with EOT after its handshake'));
      if (u.type !== 'eot') throw unexpected(u, 'waiting for EOT after the second handshake');
    }
    if (machine.responseCode !== '00')
      throw new VendgateError(
        ErrorCode.DexProtocol,
        `the machine answered the read request with response code "${machine.responseCode}", not "00" (OK)`,
        { responseCode: machine.responseCode },
      );

    // ---------------------------------------------- data transfer (machine sends)
    await expectEnq(next, o.answerTimeoutMs, 'the data transfer', unexpected);
    send(encodeUnit({ type: 'ack', n: 0 }), 'answering the data ENQ');
    const parts: Buffer[] = [];
    let bytes = 0;
    let blocks = 0;
    let retransmissions = 0;
    let ack: 0 | 1 = 1;
    let tries = 0;
    const stalled = (t: UnitTimeout) =>
      new VendgateError(
        ErrorCode.DexStalled,
        t.midUnit
          ? `the machine stopped in the middle of block ${blocks + 1} (${bytes} bytes received); nothing for ${o.stallTimeoutMs} ms`
          : `the machine stopped after block ${blocks} (${bytes} bytes received); nothing for ${o.stallTimeoutMs} ms`,
        { blocks, bytes, midBlock: t.midUnit },
      );
    for (;;) {
      const u = await next(o.stallTimeoutMs, stalled);
      if (u.type === 'eot')
        throw new VendgateError(
          ErrorCode.DexStalled,
          `the machine ended the transfer (EOT) after block ${blocks} without its last block (${bytes} bytes received)`,
          { blocks, bytes },
        );
      if (u.type === 'enq') {
        // The machine did not hear our last acknowledgement and asks again: repeat it (EVA-DTS DEX/UCS recovery).
        send(encodeUnit({ type: 'ack', n: ack === 1 ? 0 : 1 }), 'repeating an acknowledgement');
        continue;
      }
      if (u.type !== 'block' || u.start !== 'STX')
        throw unexpected(u, `waiting for data block ${blocks + 1}`);
      if (!u.crcOk) {
        tries++;
        if (tries > o.maxRetransmissions) throw crcError(`data block ${blocks + 1}`, tries);
        retransmissions++;
        send(encodeUnit({ type: 'nak' }), `refusing damaged block ${blocks + 1}`);
        continue;
      }
      tries = 0;
      bytes += u.data.length;
      if (bytes > o.maxBytes)
        throw new VendgateError(
          ErrorCode.DexTooLarge,
          `the audit is larger than ${o.maxBytes} bytes (block ${blocks + 1})`,
          { maxBytes: o.maxBytes, blocks: blocks + 1 },
        );
      parts.push(u.data);
      blocks++;
      send(encodeUnit({ type: 'ack', n: ack }), `acknowledging block ${blocks}`);
      ack = ack === 1 ? 0 : 1;
      if (u.end === 'ETX') break;
    }
    try {
      const u = await next(o.answerTimeoutMs, noAnswer('with EOT after its last block'));
      if (u.type !== 'eot') warnings.push(`expected EOT after the last block, got ${describe(u)}`);
    } catch (err) {
      if (!(err instanceof VendgateError)) throw err;
      warnings.push('no EOT after the last block');
    }
    if (queue.junk > 0) warnings.push(`${queue.junk} stray bytes outside blocks were ignored`);
    return {
      text: Buffer.concat(parts).toString('latin1'),
      bytes,
      blocks,
      retransmissions,
      machine,
      warnings,
    };
  } catch (err) {
    // Tell the machine the exchange is over (EOT ends a DEX/UCS session from either side), so it
    // does not sit waiting for an acknowledgement and miss the next read's ENQ.
    transport.write(encodeUnit({ type: 'eot' }));
    throw err;
  } finally {
    queue.dispose();
  }
}

async function expectEnq(
  next: (ms: number, onTimeout: (t: UnitTimeout) => VendgateError) => Promise<ArrivedUnit>,
  answerTimeoutMs: number,
  what: string,
  unexpected: (u: ArrivedUnit, step: string) => VendgateError,
): Promise<void> {
  const u = await next(
    answerTimeoutMs,
    () =>
      new VendgateError(
        ErrorCode.DexNoAnswer,
        `the machine did not start ${what} (ENQ) within ${answerTimeoutMs} ms`,
        {
          step: what,
        },
      ),
  );
  if (u.type !== 'enq') throw unexpected(u, `waiting for ENQ to start ${what}`);
}

function crcError(what: string, attempts: number): VendgateError {
  return new VendgateError(
    ErrorCode.DexCrcMismatch,
    `${what} failed its CRC-16 ${attempts} times; giving up`,
    { block: what, attempts },
  );
}

/** The machine's handshake text: response code (2), communication id (10), revision/level (6). */
function parseSlaveHandshake(data: Buffer): DexTransfer['machine'] {
  const text = data.toString('latin1');
  if (text.length !== 2 + COMM_ID_LENGTH + REVISION_LEVEL.length || !/^[\x20-\x7e]+$/.test(text))
    throw new VendgateError(
      ErrorCode.DexProtocol,
      `the machine's handshake is ${text.length} characters, expected ${2 + COMM_ID_LENGTH + REVISION_LEVEL.length} printable ones (response code, communication id, revision/level)`,
      { length: text.length },
    );
  return {
    responseCode: text.slice(0, 2),
    communicationId: text.slice(2, 2 + COMM_ID_LENGTH),
    revisionLevel: text.slice(2 + COMM_ID_LENGTH),
  };
}

function describe(u: ArrivedUnit): string {
  switch (u.type) {
    case 'ack':
      return `DLE ${u.n}`;
    case 'block':
      return `a DLE ${u.start} block`;
    default:
      return u.type.toUpperCase();
  }
}
