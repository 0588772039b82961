import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ACK_FRAMES,
  Command,
  encodeFrame,
  type Frame,
  FrameDecoder,
  MAX_FRAME,
  MAX_PAYLOAD,
  xorChecksum,
} from './codec.ts';
import {
  AckMessage,
  DispenseMessage,
  DispenseProgressMessage,
  DispenseResultMessage,
  GetInfoMessage,
  GetSensorsMessage,
  GetStockMessage,
  InfoMessage,
  PollMessage,
  parseMessage,
  QueryVendMessage,
  ResetMessage,
  SensorsMessage,
  STOCK_PAGE_SLOTS,
  StockMessage,
  VendStatusMessage,
  type VsbMessage,
} from './messages.ts';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u8 = fc.integer({ min: 0, max: 0xff });
const seqArb = fc.integer({ min: 0, max: 0xff });

const epochArb = fc.integer({ min: 1, max: 0xffffffff });
const asciiArb = (maxLength: number) => fc.string({ maxLength }).map((s) => s.replace(/[^\x20-\x7e]/g, ''));

const messageArb: fc.Arbitrary<VsbMessage> = fc.oneof(
  u8.map((s) => new PollMessage(s)),
  fc.tuple(u8, epochArb).map(([s, e]) => new PollMessage(s, e)),
  fc.constant(new AckMessage()),
  epochArb.map((e) => new AckMessage(e)),
  fc.tuple(u32, u8, u32).map(([t, s, e]) => new DispenseMessage(t, s, e)),
  u32.map((t) => new QueryVendMessage(t)),
  fc.constant(new GetInfoMessage()),
  fc.tuple(u32, u8).map(([t, s]) => new DispenseProgressMessage(t, s)),
  fc.tuple(u32, u8, u8).map(([t, s, r]) => new DispenseResultMessage(t, s, r)),
  fc.tuple(u32, u8, u8, u8).map(([t, st, s, r]) => new VendStatusMessage(t, st, s, r)),
  fc.tuple(u32, u8, u8, u8, epochArb).map(([t, st, s, r, e]) => new VendStatusMessage(t, st, s, r, e)),
  fc.tuple(fc.integer({ min: 0, max: 1 }), u8, asciiArb(62)).map(([v, n, fw]) => new InfoMessage(v, n, fw)),
  fc
    .tuple(fc.integer({ min: 2, max: 0xff }), u8, asciiArb(58), epochArb)
    .map(([v, n, fw, e]) => new InfoMessage(v, n, fw, e)),
  fc.constant(new GetSensorsMessage()),
  u8.map((first) => new GetStockMessage(first)),
  u32.map((e) => new ResetMessage(e)),
  sensorsArb(),
  stockArb(),
);

function sensorsArb(): fc.Arbitrary<SensorsMessage> {
  return fc
    .tuple(
      fc.option(fc.boolean(), { nil: undefined }),
      fc.option(fc.integer({ min: -0x8000, max: 0x7fff }), { nil: undefined }),
    )
    .map(([door, temp]) => new SensorsMessage(door, temp));
}

function stockArb(): fc.Arbitrary<StockMessage> {
  return fc
    .tuple(u8, u8, fc.array(fc.record({ slot: u8, level: u8 }), { maxLength: STOCK_PAGE_SLOTS }))
    .map(([first, next, levels]) => new StockMessage(first, next, levels));
}

const rawFrameArb = fc.record({
  command: u8,
  seq: seqArb,
  payload: fc.uint8Array({ maxLength: MAX_PAYLOAD }),
});

function framesOf(chunks: Uint8Array[], decoder = new FrameDecoder()): Frame[] {
  const out: Frame[] = [];
  for (const c of chunks) decoder.feed(c, (f) => out.push(f));
  return out;
}

function strip(f: Frame) {
  return { command: f.command, seq: f.seq, payload: Buffer.from(f.payload).toString('hex') };
}

describe('VSB codec', () => {
  it('encodes the documented DISPENSE example and its epoch-carrying ACK byte for byte', () => {
    // docs/protocols/slot-board.md section 7, examples 1 and 2
    const bytes = new DispenseMessage(0x01020304, 3, 0x5eed0001).serialize(0x07);
    expect(bytes.toString('hex')).toBe('fafb1009070102030403' + '5eed0001aa');
    expect(new AckMessage(0x5eed0001).serialize(0x07).toString('hex')).toBe('fafb0204075eed0001b2');
  });

  it('encodes the documented POLL and ACK examples byte for byte', () => {
    // section 7, example 7
    expect(new PollMessage(0, 0x5eed0001).serialize(0).toString('hex')).toBe('fafb010500005eed0001b7');
    expect(ACK_FRAMES[0]!.toString('hex')).toBe('fafb02000003');
    expect(ACK_FRAMES[7]!.toString('hex')).toBe('fafb02000704');
  });

  it('decodes the documented VEND_STATUS, INFO and restart examples from captured bytes', () => {
    // section 7, examples 8, 9, 10 and 11
    const [status, info, refused, never] = new FrameDecoder().push(
      Buffer.from(
        'fafb220b250102030402030' +
          '05eed0001ba' +
          'fafb230d26020a5eed0001' +
          '7673622f322e30d7' +
          'fafb2106010102030403' +
          '0828' +
          'fafb220b020102030400000' +
          '00badf00d75',
        'hex',
      ),
    );
    expect(parseMessage(status!)).toEqual(new VendStatusMessage(0x01020304, 2, 3, 0, 0x5eed0001));
    expect(parseMessage(info!)).toEqual(new InfoMessage(2, 10, 'vsb/2.0', 0x5eed0001));
    expect(parseMessage(refused!)).toEqual(new DispenseResultMessage(0x01020304, 3, 0x08));
    expect(parseMessage(never!)).toEqual(new VendStatusMessage(0x01020304, 0, 0, 0, 0x0badf00d));
  });

  it('still reads the protocol 1 layouts (no epoch) of POLL, DISPENSE, VEND_STATUS and INFO', () => {
    const [poll, dispense, status, info] = new FrameDecoder().push(
      Buffer.from(
        'fafb0101000001' +
          'fafb100507010203040314' +
          'fafb2207250102030402030004' +
          'fafb230926010a7673622f312e3061',
        'hex',
      ),
    );
    expect(parseMessage(poll!)).toEqual(new PollMessage(0));
    expect(parseMessage(dispense!)).toEqual(new DispenseMessage(0x01020304, 3, 0));
    expect(parseMessage(status!)).toEqual(new VendStatusMessage(0x01020304, 2, 3, 0));
    expect(parseMessage(info!)).toEqual(new InfoMessage(1, 10, 'vsb/1.0'));
  });

  it('refuses a protocol 2 INFO without its epoch and payload lengths between the layouts', () => {
    expect(() => new InfoMessage(2, 1, 'x')).toThrow(/needs a bootEpoch/);
    for (const [command, length] of [
      [Command.Poll, 3],
      [Command.Ack, 2],
      [Command.Dispense, 7],
      [Command.VendStatus, 9],
      [Command.Info, 4],
    ] as const) {
      const payload = new Uint8Array(length);
      payload[0] = 2; // an INFO of protocol 2, too short for its epoch
      expect(() => parseMessage({ command, seq: 1, payload, checksum: 0 })).toThrow(/bad payload length/);
    }
  });

  it('encodes the documented protocol 3 examples byte for byte', () => {
    // docs/protocols/slot-board.md section 7, examples 12 to 15
    expect(new SensorsMessage(true, 45).serialize(0x27).toString('hex')).toBe('fafb2403270700' + '2d' + '2b');
    expect(new SensorsMessage(false, -35).serialize(0x28).toString('hex')).toBe(
      'fafb240328' + '05ffdd' + '29',
    );
    expect(new GetStockMessage(0).serialize(0x0a).toString('hex')).toBe('fafb14010a00' + '1e');
    expect(
      new StockMessage(0, 0, [
        { slot: 1, level: 7 },
        { slot: 2, level: 0 },
      ])
        .serialize(0x29)
        .toString('hex'),
    ).toBe('fafb250629000001070200' + '0f');
    expect(new ResetMessage(0x5eed0001).serialize(0x0b).toString('hex')).toBe('fafb15040b5eed0001' + 'a9');
    expect(new GetSensorsMessage().serialize(0x0c).toString('hex')).toBe('fafb13000c1e');
  });

  it('reads a sensors report of a board with neither door switch nor thermometer as no readings', () => {
    const m = SensorsMessage.from(Uint8Array.of(0x00, 0x12, 0x34));
    expect(m.doorOpen).toBeUndefined();
    expect(m.temperatureDeciC).toBeUndefined();
  });

  it('refuses protocol 3 payloads of the wrong length and out-of-range fields', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: MAX_PAYLOAD }), (payload) => {
        const bad = (command: number, ok: (n: number) => boolean) => {
          if (ok(payload.length)) return;
          expect(() => parseMessage({ command, seq: 1, payload, checksum: 0 })).toThrow(/bad payload length/);
        };
        bad(Command.GetSensors, (n) => n === 0);
        bad(Command.GetStock, (n) => n === 1);
        bad(Command.Reset, (n) => n === 4);
        bad(Command.Sensors, (n) => n === 3);
        bad(Command.Stock, (n) => n >= 2 && n % 2 === 0);
      }),
    );
    expect(() => new SensorsMessage(true, 0x8000)).toThrow(RangeError);
    expect(() => new SensorsMessage(true, 1.5)).toThrow(RangeError);
    const tooMany = Array.from({ length: STOCK_PAGE_SLOTS + 1 }, (_, i) => ({ slot: i + 1, level: 1 }));
    expect(() => new StockMessage(0, 0, tooMany)).toThrow(RangeError);
    expect(() => new StockMessage(0, 0, [{ slot: 1, level: 256 }])).toThrow(RangeError);
  });

  it('round-trips every message type through encode, decode and from()', () => {
    fc.assert(
      fc.property(messageArb, seqArb, (msg, seq) => {
        const [frame, ...rest] = new FrameDecoder().push(msg.serialize(seq));
        expect(rest).toHaveLength(0);
        expect(frame!.seq).toBe(seq);
        const back = parseMessage(frame!);
        expect(back).toBeInstanceOf(msg.constructor);
        expect(back).toEqual(msg);
      }),
    );
  });

  it('ends every frame with the XOR of all preceding bytes', () => {
    fc.assert(
      fc.property(rawFrameArb, ({ command, seq, payload }) => {
        const f = encodeFrame(command, seq, payload);
        expect(f.length).toBe(6 + payload.length);
        expect(f[f.length - 1]).toBe(xorChecksum(f, 0, f.length - 1));
      }),
    );
  });

  it('skips arbitrary junk before and between frames and still yields every valid frame', () => {
    // Junk that cannot contain a header start keeps the expected output exact.
    const junk = fc.uint8Array({ maxLength: 40 }).map((a) => a.map((b) => (b === 0xfa ? 0x00 : b)));
    fc.assert(
      fc.property(fc.array(fc.tuple(junk, rawFrameArb), { maxLength: 8 }), junk, (parts, tail) => {
        const chunks: Uint8Array[] = [];
        for (const [j, f] of parts) chunks.push(j, encodeFrame(f.command, f.seq, f.payload));
        chunks.push(tail);
        const got = framesOf([Buffer.concat(chunks)]).map(strip);
        expect(got).toEqual(parts.map(([, f]) => strip({ ...f, checksum: 0 })));
      }),
    );
  });

  it('finds valid frames behind junk that contains false headers', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uint8Array({ maxLength: 30 }), rawFrameArb), { maxLength: 6 }),
        (parts) => {
          const bytes = Buffer.concat(
            parts.flatMap(([j, f]) => [j, encodeFrame(f.command, f.seq, f.payload)]),
          );
          const got = framesOf([bytes]).map(strip);
          // Every real frame must come out, in order (junk may add spurious extra frames only by checksum luck).
          const want = parts.map(([, f]) => strip({ ...f, checksum: 0 }));
          let i = 0;
          for (const g of got) if (i < want.length && JSON.stringify(g) === JSON.stringify(want[i])) i++;
          expect(i).toBe(want.length);
        },
      ),
    );
  });

  it('reassembles frames split at every offset', () => {
    fc.assert(
      fc.property(fc.array(rawFrameArb, { minLength: 1, maxLength: 4 }), (frames) => {
        const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.command, f.seq, f.payload)));
        const want = frames.map((f) => strip({ ...f, checksum: 0 }));
        for (let cut = 0; cut <= bytes.length; cut++) {
          expect(framesOf([bytes.subarray(0, cut), bytes.subarray(cut)]).map(strip)).toEqual(want);
        }
        expect(framesOf([...bytes].map((b) => Uint8Array.of(b))).map(strip)).toEqual(want);
      }),
    );
  });

  it('resyncs after a corrupted frame by skipping one byte and rescanning', () => {
    const good = new DispenseResultMessage(42, 1, 0).serialize(9);
    const bad = Buffer.from(new DispenseResultMessage(41, 1, 0).serialize(8));
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff;
    const d = new FrameDecoder();
    const got = d.push(Buffer.concat([bad, good]));
    expect(got.map((f) => parseMessage(f))).toEqual([new DispenseResultMessage(42, 1, 0)]);
    expect(d.stats.badChecksums).toBeGreaterThanOrEqual(1);
    expect(d.stats.discardedBytes).toBeGreaterThanOrEqual(bad.length);
  });

  it('rejects a length above 64 as a false header', () => {
    const d = new FrameDecoder();
    const fake = Buffer.from([0xfa, 0xfb, 0x10, 65, 0x01]);
    const good = new PollMessage(0).serialize();
    expect(d.push(Buffer.concat([fake, good])).length).toBe(1);
    expect(d.stats.badLengths).toBe(1);
  });

  it('keeps its buffer bounded on endless junk and counts what it discards', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 2000 }), { maxLength: 20 }), (chunks) => {
        const d = new FrameDecoder({ bufferSize: 512 });
        let total = 0;
        let frames = 0;
        for (const c of chunks) {
          total += c.length;
          frames += d.push(c).length;
          expect(d.buffered).toBeLessThanOrEqual(MAX_FRAME);
        }
        if (frames === 0) expect(d.stats.discardedBytes + d.buffered).toBe(total);
      }),
    );
  });

  it('never throws on arbitrary bytes in arbitrary chunks', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (chunks) => {
        const d = new FrameDecoder();
        for (const c of chunks) {
          for (const f of d.push(c)) {
            try {
              parseMessage(f);
            } catch (err) {
              expect((err as { code?: number }).code).toBe(6004);
            }
          }
        }
      }),
    );
  });

  it('refuses to encode a payload over 64 bytes', () => {
    expect(() => encodeFrame(Command.Info, 1, new Uint8Array(65))).toThrow(RangeError);
  });
});
