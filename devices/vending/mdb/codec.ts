/**
 * Line codec for MDB cashless adapters that speak the Qibixx-style ASCII
 * line protocol (docs/protocols/mdb-adapter.md). Pure: bytes in, typed
 * messages out, and back. No I/O, no timers.
 *
 * - A line ends with `\n`; a `\r` right before it is dropped (section 2).
 * - A line longer than `maxLineLength` bytes is discarded whole and counted;
 *   the decoder resyncs at the next `\n` (section 2).
 * - Lines that are not part of the subset we speak come out as
 *   `{ type: 'unknown', raw }`: decoding never throws on input bytes.
 * - Encoders throw RangeError on values they cannot put on the wire; they
 *   never produce a line the decoder would read back differently.
 */

/** Section 2: default bound on one line, terminator excluded. */
export const MAX_LINE_LENGTH = 256;

/** Section 4: reader states as the adapter reports them in `c,STATUS,<state>`. */
export const READER_STATES = ['INACTIVE', 'DISABLED', 'ENABLED', 'IDLE', 'VEND'] as const;
export type ReaderState = (typeof READER_STATES)[number];

/** A non-negative decimal number as it appears on the line: `350`, `3.50`. */
const AMOUNT_RE = /^\d{1,12}(?:\.\d{1,6})?$/;
/** MDB item numbers are 16-bit (VEND REQUEST, item number). */
const ITEM_RE = /^\d{1,5}$/;
export const MAX_ITEM = 0xffff;
/** SETCONF keys and values we send: no separators, printable ASCII. */
const CONF_KEY_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;
const CONF_VALUE_RE = /^[A-Za-z0-9.x-]{1,32}$/;
/** Free text fields (error text, NACK reason, version): printable ASCII, no line breaks. */
const TEXT_RE = /^[\x20-\x7e]*$/;

// ---- adapter -> host ------------------------------------------------------------

/** Every line the adapter sends, as a typed message (section 4). */
export type AdapterMessage =
  /** `r,ACK`: the oldest unanswered host command was accepted. */
  | { type: 'ack' }
  /** `r,NACK[,<reason>]`: the oldest unanswered host command was refused. */
  | { type: 'nack'; reason?: string }
  /** `c,STATUS,<state>[,<extra>]` other than a vend request. */
  | { type: 'status'; state: Exclude<ReaderState, 'VEND'>; extra?: string }
  /** `c,STATUS,VEND,<price>,<item>`: the VMC asks the reader to approve a vend. Price as on the line. */
  | { type: 'vend-request'; price: string; item: number }
  /** `c,VEND,SUCCESS[,<item>]`: the product came out. */
  | { type: 'vend-success'; item?: number }
  /** `c,VEND,FAIL[,<item>[,<reason>]]` or Qibixx's `c,ERR,VEND 3`: approved but not dispensed. */
  | { type: 'vend-fail'; item?: number; reason?: string }
  /** `c,ERR,<text>`: an adapter or bus error other than a failed vend. */
  | { type: 'error'; text: string }
  /** `v,<text>`: answer to the `V` version query (our keepalive, section 5). */
  | { type: 'version'; text: string }
  /** Anything else, verbatim (latin1), for logs. */
  | { type: 'unknown'; raw: string };

// ---- host -> adapter ------------------------------------------------------------

/** Every line the host sends (section 3). */
export type HostCommand =
  /** `C,1`: enable the cashless slave. */
  | { type: 'enable' }
  /** `C,0`: disable the cashless slave. */
  | { type: 'disable' }
  /** `C,SETCONF,<key>=<value>`: reader configuration, only while disabled. */
  | { type: 'setconf'; key: string; value: string }
  /** `C,VEND,<amount>`: approve the pending vend request for this amount. */
  | { type: 'approve'; amount: string }
  /** `C,STOP`: deny the pending vend request / end the session. */
  | { type: 'deny' }
  /**
   * `C,START,<funds>`: begin a session with funds (authorization first,
   * "credit from card"; Qibixx Cashless Slave API, "Start a session (Vending
   * Cycle)"). Section 3.4.
   */
  | { type: 'begin-session'; funds: string }
  /**
   * `C,VEND,-1`: deny the pending vend request inside a session with funds,
   * the session stays open (Qibixx Cashless Slave API, "Stop an active vend
   * session (Deny Credit Request)"). Section 3.4.
   */
  | { type: 'deny-vend' }
  /** `V`: version query, used as a keepalive. */
  | { type: 'version' }
  | { type: 'unknown'; raw: string };

// ---- streaming line splitter ----------------------------------------------------

export interface LineDecoderStats {
  lines: number;
  /** Lines dropped for exceeding the bound (each counted once). */
  overlong: number;
  /** Bytes dropped with those lines. */
  discardedBytes: number;
}

export interface LineDecoderOptions {
  /** Longest accepted line in bytes, terminator excluded. Default 256. */
  maxLineLength?: number;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Splits a byte stream into lines (section 2). Memory is bounded by
 * `maxLineLength` whatever comes in: an endless stream without a newline
 * holds at most that many bytes.
 */
export class LineDecoder {
  readonly stats: LineDecoderStats = { lines: 0, overlong: 0, discardedBytes: 0 };
  readonly maxLineLength: number;
  private readonly buf: Uint8Array;
  private len = 0;
  /** True while skipping the rest of an over-long line. */
  private discarding = false;

  constructor(opts: LineDecoderOptions = {}) {
    const max = opts.maxLineLength ?? MAX_LINE_LENGTH;
    if (!Number.isInteger(max) || max < 8 || max > 65536) {
      throw new RangeError('LineDecoder maxLineLength must be an integer 8..65536');
    }
    this.maxLineLength = max;
    // One extra byte so a line of exactly max bytes followed by \r still fits.
    this.buf = new Uint8Array(max + 1);
  }

  /** Bytes held for an incomplete line. */
  get buffered(): number {
    return this.len;
  }

  /** Drops a partial line (e.g. after the port was reopened). */
  reset(): void {
    this.stats.discardedBytes += this.len;
    this.len = 0;
    this.discarding = false;
  }

  /** Feeds a chunk; calls `onLine` with each complete non-empty line (latin1, `\r\n` tolerated). */
  feed(chunk: Uint8Array, onLine: (line: string) => void): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(LF, start);
      const end = nl < 0 ? chunk.length : nl;
      this.append(chunk, start, end);
      if (nl < 0) break;
      start = nl + 1;
      this.endLine(onLine);
    }
  }

  /** Convenience: feeds a chunk and returns the lines it completed. */
  push(chunk: Uint8Array): string[] {
    const out: string[] = [];
    this.feed(chunk, (l) => out.push(l));
    return out;
  }

  private append(chunk: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (n === 0) return;
    if (this.discarding) {
      this.stats.discardedBytes += n;
      return;
    }
    if (this.len + n > this.buf.length) {
      this.stats.overlong++;
      this.stats.discardedBytes += this.len + n;
      this.len = 0;
      this.discarding = true;
      return;
    }
    this.buf.set(chunk.subarray(from, to), this.len);
    this.len += n;
  }

  private endLine(onLine: (line: string) => void): void {
    if (this.discarding) {
      this.discarding = false;
      return;
    }
    let n = this.len;
    this.len = 0;
    if (n > 0 && this.buf[n - 1] === CR) n--;
    if (n > this.maxLineLength) {
      this.stats.overlong++;
      this.stats.discardedBytes += n;
      return;
    }
    if (n === 0) return;
    this.stats.lines++;
    onLine(Buffer.from(this.buf.buffer, this.buf.byteOffset, n).toString('latin1'));
  }
}

// ---- parsing --------------------------------------------------------------------

function parseItem(s: string | undefined): number | undefined {
  if (s === undefined || !ITEM_RE.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ITEM ? n : undefined;
}

/** Parses one adapter line (terminator already removed). Never throws. */
export function parseAdapterLine(line: string): AdapterMessage {
  const unknown: AdapterMessage = { type: 'unknown', raw: line };
  if (!TEXT_RE.test(line)) return unknown;
  if (line === 'r,ACK') return { type: 'ack' };
  if (line === 'r,NACK') return { type: 'nack' };
  if (line.startsWith('r,NACK,')) return { type: 'nack', reason: line.slice(7) };
  if (line.startsWith('v,')) return { type: 'version', text: line.slice(2) };
  if (line.startsWith('c,ERR,')) {
    const text = line.slice(6);
    // Qibixx: "c,ERR,VEND 3" = the product failed to dispense after approval.
    if (text === 'VEND 3') return { type: 'vend-fail', reason: text };
    return { type: 'error', text };
  }
  const f = line.split(',');
  if (f[0] !== 'c' || f.length < 3) return unknown;
  if (f[1] === 'STATUS') {
    const state = f[2]!;
    if (state === 'VEND') {
      if (f.length !== 5 || !AMOUNT_RE.test(f[3]!)) return unknown;
      const item = parseItem(f[4]);
      return item === undefined ? unknown : { type: 'vend-request', price: f[3]!, item };
    }
    if (state === 'INACTIVE' || state === 'DISABLED' || state === 'ENABLED' || state === 'IDLE') {
      if (f.length === 3) return { type: 'status', state };
      return { type: 'status', state, extra: f.slice(3).join(',') };
    }
    return unknown;
  }
  if (f[1] === 'VEND') {
    if (f[2] === 'SUCCESS') {
      if (f.length === 3) return { type: 'vend-success' };
      const item = parseItem(f[3]);
      return f.length === 4 && item !== undefined ? { type: 'vend-success', item } : unknown;
    }
    if (f[2] === 'FAIL') {
      if (f.length === 3) return { type: 'vend-fail' };
      const item = parseItem(f[3]);
      if (item === undefined) return unknown;
      if (f.length === 4) return { type: 'vend-fail', item };
      return { type: 'vend-fail', item, reason: f.slice(4).join(',') };
    }
  }
  return unknown;
}

/** Parses one host line (for the simulated adapter). Never throws. */
export function parseHostLine(line: string): HostCommand {
  const unknown: HostCommand = { type: 'unknown', raw: line };
  if (!TEXT_RE.test(line)) return unknown;
  switch (line) {
    case 'C,1':
      return { type: 'enable' };
    case 'C,0':
      return { type: 'disable' };
    case 'C,STOP':
      return { type: 'deny' };
    case 'V':
      return { type: 'version' };
  }
  if (line === 'C,VEND,-1') return { type: 'deny-vend' };
  if (line.startsWith('C,START,')) {
    const funds = line.slice(8);
    return AMOUNT_RE.test(funds) ? { type: 'begin-session', funds } : unknown;
  }
  if (line.startsWith('C,VEND,')) {
    const amount = line.slice(7);
    return AMOUNT_RE.test(amount) ? { type: 'approve', amount } : unknown;
  }
  if (line.startsWith('C,SETCONF,')) {
    const kv = line.slice(10);
    const eq = kv.indexOf('=');
    if (eq < 0) return unknown;
    const key = kv.slice(0, eq);
    const value = kv.slice(eq + 1);
    return CONF_KEY_RE.test(key) && CONF_VALUE_RE.test(value) ? { type: 'setconf', key, value } : unknown;
  }
  return unknown;
}

// ---- encoding -------------------------------------------------------------------

function checkAmount(amount: string): void {
  if (!AMOUNT_RE.test(amount))
    throw new RangeError(`MDB amount must be a decimal like 350 or 3.50, got "${amount}"`);
}

function checkItem(item: number): void {
  if (!Number.isInteger(item) || item < 0 || item > MAX_ITEM)
    throw new RangeError(`MDB item must be an integer 0..${MAX_ITEM}, got ${item}`);
}

function checkText(name: string, s: string, allowComma = true): void {
  if (!TEXT_RE.test(s) || (!allowComma && s.includes(',')))
    throw new RangeError(`${name} must be printable ASCII${allowComma ? '' : ' without commas'}`);
}

/** The line (without terminator) for a host command. Throws RangeError on unencodable values. */
export function hostCommandLine(cmd: HostCommand): string {
  switch (cmd.type) {
    case 'enable':
      return 'C,1';
    case 'disable':
      return 'C,0';
    case 'deny':
      return 'C,STOP';
    case 'version':
      return 'V';
    case 'approve':
      checkAmount(cmd.amount);
      return `C,VEND,${cmd.amount}`;
    case 'begin-session':
      checkAmount(cmd.funds);
      return `C,START,${cmd.funds}`;
    case 'deny-vend':
      return 'C,VEND,-1';
    case 'setconf':
      if (!CONF_KEY_RE.test(cmd.key)) throw new RangeError(`bad SETCONF key "${cmd.key}"`);
      if (!CONF_VALUE_RE.test(cmd.value)) throw new RangeError(`bad SETCONF value "${cmd.value}"`);
      return `C,SETCONF,${cmd.key}=${cmd.value}`;
    case 'unknown':
      checkText('raw line', cmd.raw);
      return cmd.raw;
  }
}

/** The line (without terminator) for an adapter message. Throws RangeError on unencodable values. */
export function adapterMessageLine(msg: AdapterMessage): string {
  switch (msg.type) {
    case 'ack':
      return 'r,ACK';
    case 'nack':
      if (msg.reason === undefined) return 'r,NACK';
      checkText('NACK reason', msg.reason);
      return `r,NACK,${msg.reason}`;
    case 'status':
      if (msg.extra === undefined) return `c,STATUS,${msg.state}`;
      checkText('status extra', msg.extra);
      return `c,STATUS,${msg.state},${msg.extra}`;
    case 'vend-request':
      checkAmount(msg.price);
      checkItem(msg.item);
      return `c,STATUS,VEND,${msg.price},${msg.item}`;
    case 'vend-success':
      if (msg.item === undefined) return 'c,VEND,SUCCESS';
      checkItem(msg.item);
      return `c,VEND,SUCCESS,${msg.item}`;
    case 'vend-fail':
      if (msg.item === undefined) {
        if (msg.reason !== undefined) throw new RangeError('a vend-fail reason needs an item');
        return 'c,VEND,FAIL';
      }
      checkItem(msg.item);
      if (msg.reason === undefined) return `c,VEND,FAIL,${msg.item}`;
      checkText('vend-fail reason', msg.reason);
      return `c,VEND,FAIL,${msg.item},${msg.reason}`;
    case 'error':
      checkText('error text', msg.text);
      if (msg.text === 'VEND 3') throw new RangeError('"VEND 3" is a vend failure; encode it as vend-fail');
      return `c,ERR,${msg.text}`;
    case 'version':
      checkText('version text', msg.text);
      return `v,${msg.text}`;
    case 'unknown':
      checkText('raw line', msg.raw);
      return msg.raw;
  }
}

/** Encodes a host command as wire bytes (`\n` terminated). */
export function encodeHostCommand(cmd: HostCommand): Buffer {
  return Buffer.from(`${hostCommandLine(cmd)}\n`, 'latin1');
}

/** Encodes an adapter message as wire bytes (`\n` terminated). */
export function encodeAdapterMessage(msg: AdapterMessage): Buffer {
  return Buffer.from(`${adapterMessageLine(msg)}\n`, 'latin1');
}

/** A line decoder that parses each complete line into a typed message (never throws). */
class ParsedLineDecoder<T> {
  readonly lines: LineDecoder;
  readonly #parse: (line: string) => T;
  constructor(parse: (line: string) => T, opts: LineDecoderOptions) {
    this.lines = new LineDecoder(opts);
    this.#parse = parse;
  }
  get stats(): LineDecoderStats {
    return this.lines.stats;
  }
  reset(): void {
    this.lines.reset();
  }
  feed(chunk: Uint8Array, onMessage: (msg: T) => void): void {
    this.lines.feed(chunk, (l) => onMessage(this.#parse(l)));
  }
  push(chunk: Uint8Array): T[] {
    const out: T[] = [];
    this.feed(chunk, (m) => out.push(m));
    return out;
  }
}

/** Streaming decoder for the host side: adapter bytes in, messages out. */
export class AdapterMessageDecoder extends ParsedLineDecoder<AdapterMessage> {
  constructor(opts: LineDecoderOptions = {}) {
    super(parseAdapterLine, opts);
  }
}

/** Streaming decoder for the adapter side (the simulator): host bytes in, commands out. */
export class HostCommandDecoder extends ParsedLineDecoder<HostCommand> {
  constructor(opts: LineDecoderOptions = {}) {
    super(parseHostLine, opts);
  }
}
