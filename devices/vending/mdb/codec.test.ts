import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AdapterMessage,
  AdapterMessageDecoder,
  adapterMessageLine,
  encodeAdapterMessage,
  encodeHostCommand,
  type HostCommand,
  HostCommandDecoder,
  hostCommandLine,
  LineDecoder,
  MAX_ITEM,
  MAX_LINE_LENGTH,
  parseAdapterLine,
  parseHostLine,
} from './codec.ts';

const item = fc.integer({ min: 0, max: MAX_ITEM });
const amount = fc.oneof(
  fc.bigInt({ min: 0n, max: 999_999_999_999n }).map(String),
  fc
    .tuple(fc.bigInt({ min: 0n, max: 999_999n }), fc.stringMatching(/^\d{1,6}$/))
    .map(([i, f]) => `${i}.${f}`),
);
const text = fc.string({ maxLength: 60 }).map((s) => s.replace(/[^\x20-\x7e]/g, ''));

const adapterMessageArb: fc.Arbitrary<AdapterMessage> = fc.oneof(
  fc.constant({ type: 'ack' as const }),
  fc.constant({ type: 'nack' as const }),
  text.map((reason) => ({ type: 'nack' as const, reason })),
  fc
    .constantFrom('INACTIVE', 'DISABLED', 'ENABLED', 'IDLE')
    .map((state) => ({ type: 'status' as const, state })),
  fc
    .tuple(fc.constantFrom('IDLE', 'ENABLED'), text)
    .map(([state, extra]) => ({ type: 'status' as const, state, extra })),
  fc.tuple(amount, item).map(([price, i]) => ({ type: 'vend-request' as const, price, item: i })),
  fc.constant({ type: 'vend-success' as const }),
  item.map((i) => ({ type: 'vend-success' as const, item: i })),
  fc.constant({ type: 'vend-fail' as const }),
  item.map((i) => ({ type: 'vend-fail' as const, item: i })),
  fc.tuple(item, text).map(([i, reason]) => ({ type: 'vend-fail' as const, item: i, reason })),
  text.filter((t) => t !== 'VEND 3').map((t) => ({ type: 'error' as const, text: t })),
  text.map((t) => ({ type: 'version' as const, text: t })),
);

const hostCommandArb: fc.Arbitrary<HostCommand> = fc.oneof(
  fc.constant({ type: 'enable' as const }),
  fc.constant({ type: 'disable' as const }),
  fc.constant({ type: 'deny' as const }),
  fc.constant({ type: 'version' as const }),
  amount.map((a) => ({ type: 'approve' as const, amount: a })),
  amount.map((funds) => ({ type: 'begin-session' as const, funds })),
  fc.constant({ type: 'deny-vend' as const }),
  fc
    .tuple(fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/), fc.stringMatching(/^[A-Za-z0-9.x-]{1,12}$/))
    .map(([key, value]) => ({ type: 'setconf' as const, key, value })),
);

/** Splits `bytes` at the given offsets (sorted, deduplicated, in range). */
function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

describe('MDB adapter line codec', () => {
  it('decodes the documented select-then-pay exchange line by line', () => {
    const dec = new AdapterMessageDecoder();
    const wire = Buffer.from(
      'r,ACK\r\nc,STATUS,ENABLED\nc,STATUS,VEND,350,3\nr,ACK\nc,VEND,SUCCESS,3\nc,STATUS,IDLE\n',
    );
    expect(dec.push(wire)).toEqual([
      { type: 'ack' },
      { type: 'status', state: 'ENABLED' },
      { type: 'vend-request', price: '350', item: 3 },
      { type: 'ack' },
      { type: 'vend-success', item: 3 },
      { type: 'status', state: 'IDLE' },
    ]);
  });

  it('reads the Qibixx forms: decimal prices, SUCCESS without an item, ERR VEND 3 as a failed vend', () => {
    expect(parseAdapterLine('c,STATUS,VEND,1.00,2')).toEqual({
      type: 'vend-request',
      price: '1.00',
      item: 2,
    });
    expect(parseAdapterLine('c,VEND,SUCCESS')).toEqual({ type: 'vend-success' });
    expect(parseAdapterLine('c,ERR,VEND 3')).toEqual({ type: 'vend-fail', reason: 'VEND 3' });
    expect(parseAdapterLine('c,ERR,bus reset')).toEqual({ type: 'error', text: 'bus reset' });
    expect(parseAdapterLine('r,NACK,unknown command')).toEqual({ type: 'nack', reason: 'unknown command' });
  });

  it('surfaces junk and malformed lines as unknown messages carrying the raw text', () => {
    for (const raw of [
      'c,STATUS,VEND,abc,3',
      'c,STATUS,VEND,350,70000',
      'c,STATUS,VEND,-1,3',
      'c,STATUS,BOGUS',
      'c,1',
      'd,STATUS,IDLE',
      'r,ACKNOWLEDGED',
      '\x00\xff',
    ]) {
      expect(parseAdapterLine(raw)).toEqual({ type: 'unknown', raw });
    }
  });

  it('encodes the host commands exactly as documented', () => {
    expect(encodeHostCommand({ type: 'disable' }).toString()).toBe('C,0\n');
    expect(encodeHostCommand({ type: 'enable' }).toString()).toBe('C,1\n');
    expect(hostCommandLine({ type: 'setconf', key: 'mdb-always-idle', value: '1' })).toBe(
      'C,SETCONF,mdb-always-idle=1',
    );
    expect(hostCommandLine({ type: 'setconf', key: 'mdb-currency-code', value: '0x1156' })).toBe(
      'C,SETCONF,mdb-currency-code=0x1156',
    );
    expect(hostCommandLine({ type: 'approve', amount: '350' })).toBe('C,VEND,350');
    expect(hostCommandLine({ type: 'deny' })).toBe('C,STOP');
    expect(hostCommandLine({ type: 'version' })).toBe('V');
  });

  it('encodes and reads the pay-first lines: C,START with the funds and C,VEND,-1 to deny one request', () => {
    expect(hostCommandLine({ type: 'begin-session', funds: '500' })).toBe('C,START,500');
    expect(hostCommandLine({ type: 'begin-session', funds: '5.00' })).toBe('C,START,5.00');
    expect(hostCommandLine({ type: 'deny-vend' })).toBe('C,VEND,-1');
    expect(parseHostLine('C,START,500')).toEqual({ type: 'begin-session', funds: '500' });
    expect(parseHostLine('C,VEND,-1')).toEqual({ type: 'deny-vend' });
    // Negative or malformed funds are not a session start.
    for (const bad of ['C,START', 'C,START,', 'C,START,-5', 'C,START,5,00', 'C,START,1e3', 'C,VEND,-2']) {
      expect(parseHostLine(bad)).toEqual({ type: 'unknown', raw: bad });
    }
    expect(() => hostCommandLine({ type: 'begin-session', funds: '-1' })).toThrow(RangeError);
  });

  it('never reads an arbitrary C,START line as a session with funds the amount syntax refuses', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (tail) => {
        const cmd = parseHostLine(`C,START,${tail}`);
        if (cmd.type === 'begin-session') expect(cmd.funds).toMatch(/^\d{1,12}(?:\.\d{1,6})?$/);
        else expect(cmd.type).toBe('unknown');
      }),
    );
  });

  it('refuses to encode values that would not read back the same', () => {
    expect(() => hostCommandLine({ type: 'approve', amount: '3,50' })).toThrow(RangeError);
    expect(() => hostCommandLine({ type: 'approve', amount: '-1' })).toThrow(RangeError);
    expect(() => hostCommandLine({ type: 'setconf', key: 'a=b', value: '1' })).toThrow(RangeError);
    expect(() => adapterMessageLine({ type: 'vend-request', price: '1', item: MAX_ITEM + 1 })).toThrow(
      RangeError,
    );
    expect(() => adapterMessageLine({ type: 'error', text: 'line\nbreak' })).toThrow(RangeError);
  });

  it('round-trips every encodable adapter message through encode and decode', () => {
    fc.assert(
      fc.property(adapterMessageArb, (msg) => {
        expect(new AdapterMessageDecoder().push(encodeAdapterMessage(msg))).toEqual([msg]);
      }),
    );
  });

  it('round-trips every encodable host command through encode and decode', () => {
    fc.assert(
      fc.property(hostCommandArb, (cmd) => {
        expect(new HostCommandDecoder().push(encodeHostCommand(cmd))).toEqual([cmd]);
        expect(parseHostLine(hostCommandLine(cmd))).toEqual(cmd);
      }),
    );
  });

  it('decodes the same messages whatever offsets the stream is split at, with LF or CRLF', () => {
    fc.assert(
      fc.property(
        fc.array(adapterMessageArb, { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.boolean(),
        (msgs, cuts, crlf) => {
          const wire = Buffer.from(
            msgs.map((m) => `${adapterMessageLine(m)}${crlf ? '\r\n' : '\n'}`).join(''),
            'latin1',
          );
          const dec = new AdapterMessageDecoder();
          const out: AdapterMessage[] = [];
          for (const c of splitAt(wire, cuts)) dec.feed(c, (m) => out.push(m));
          expect(out).toEqual(msgs);
          expect(dec.lines.buffered).toBe(0);
        },
      ),
    );
  });

  it('splits every line at every offset and still decodes it (exhaustive for one exchange)', () => {
    const wire = Buffer.from('c,STATUS,VEND,350,3\r\nr,ACK\nc,VEND,FAIL,3,motor\n');
    for (let i = 0; i <= wire.length; i++) {
      for (let j = i; j <= wire.length; j++) {
        const dec = new AdapterMessageDecoder();
        const out = [
          ...dec.push(wire.subarray(0, i)),
          ...dec.push(wire.subarray(i, j)),
          ...dec.push(wire.subarray(j)),
        ];
        expect(out).toEqual([
          { type: 'vend-request', price: '350', item: 3 },
          { type: 'ack' },
          { type: 'vend-fail', item: 3, reason: 'motor' },
        ]);
      }
    }
  });

  it('keeps valid messages between junk lines and never lets junk swallow a good line', () => {
    const junkLine = fc
      .uint8Array({ maxLength: 80 })
      .map((b) => Buffer.from(b.filter((x) => x !== 0x0a)).toString('latin1'));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(junkLine, adapterMessageArb), { minLength: 1, maxLength: 8 }),
        (pairs) => {
          const wire = Buffer.concat(
            pairs.flatMap(([junk, m]) => [Buffer.from(`${junk}\n`, 'latin1'), encodeAdapterMessage(m)]),
          );
          const got = new AdapterMessageDecoder().push(wire);
          const known = got.filter((m) => m.type !== 'unknown');
          // Every real message is there, in order; junk either parsed as something or came out as unknown.
          const expected = pairs.map(([, m]) => m);
          let k = 0;
          for (const m of known)
            if (k < expected.length && JSON.stringify(m) === JSON.stringify(expected[k])) k++;
          expect(k).toBe(expected.length);
        },
      ),
    );
  });

  it('never throws on arbitrary bytes and keeps its buffer within the line bound', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 10 }), (chunks) => {
        const a = new AdapterMessageDecoder();
        const h = new HostCommandDecoder();
        for (const c of chunks) {
          a.push(c);
          h.push(c);
          expect(a.lines.buffered).toBeLessThanOrEqual(MAX_LINE_LENGTH + 1);
          expect(h.lines.buffered).toBeLessThanOrEqual(MAX_LINE_LENGTH + 1);
        }
      }),
    );
  });

  it('stays bounded on an endless stream without a newline, then resyncs at the next newline', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 40 }),
        (chunks) => {
          const dec = new AdapterMessageDecoder({ maxLineLength: 64 });
          let total = 0;
          for (const c of chunks) {
            const noNl = c.map((x) => (x === 0x0a ? 0x41 : x));
            total += noNl.length;
            expect(dec.push(noNl)).toEqual([]);
            expect(dec.lines.buffered).toBeLessThanOrEqual(65);
          }
          const after = dec.push(Buffer.from('\nr,ACK\n'));
          if (total > 65) {
            expect(after).toEqual([{ type: 'ack' }]);
            expect(dec.stats.overlong).toBe(1);
          } else {
            expect(after.at(-1)).toEqual({ type: 'ack' });
          }
        },
      ),
    );
  });

  it('drops an over-long line whole, counts it, and decodes the lines around it', () => {
    const lines = new LineDecoder({ maxLineLength: 16 });
    const out = lines.push(Buffer.from(`r,ACK\n${'x'.repeat(40)}\nc,STATUS,IDLE\n`));
    expect(out).toEqual(['r,ACK', 'c,STATUS,IDLE']);
    expect(lines.stats.overlong).toBe(1);
    // exactly at the bound is fine, with or without CR
    expect(lines.push(Buffer.from(`${'y'.repeat(16)}\r\n${'z'.repeat(16)}\n`))).toEqual([
      'y'.repeat(16),
      'z'.repeat(16),
    ]);
    expect(lines.push(Buffer.from(`${'w'.repeat(17)}\n`))).toEqual([]);
    expect(lines.stats.overlong).toBe(2);
  });
});
