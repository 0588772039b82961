/**
 * VSB messages: one class per command with `from(payload)` and
 * `serialize(seq)`, in the zwave-js style. Layouts: docs/protocols/slot-board.md
 * section 3 "Commands" (all multi-byte integers big-endian).
 */
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import { Command, encodeFrame, type Frame } from './codec.ts';

/** Section 3.8: DISPENSE_RESULT / VEND_STATUS result codes. */
export const ResultCode = {
  Success: 0x00,
  Jammed: 0x01,
  MotorDidNotStop: 0x02,
  NoMotor: 0x03,
  DropSensorMiss: 0x04,
  EmptySlot: 0x05,
  UnknownSlot: 0x06,
  Busy: 0x07,
} as const;
export type ResultCodeValue = (typeof ResultCode)[keyof typeof ResultCode];

export const RESULT_NAMES: Readonly<Record<number, string>> = {
  0: 'success',
  1: 'jammed',
  2: 'motor-did-not-stop',
  3: 'no-motor',
  4: 'drop-sensor-miss',
  5: 'empty-slot',
  6: 'unknown-slot',
  7: 'busy',
};

/** Section 3.6: DISPENSE_PROGRESS stages. */
export const ProgressStage = { Accepted: 0x01, Dispensing: 0x02 } as const;

/** Section 3.7: VEND_STATUS states. */
export const VendState = { NeverSeen: 0x00, InProgress: 0x01, Dispensed: 0x02, Failed: 0x03 } as const;

/** Section 3.1: POLL status byte. */
export const PollStatus = { Idle: 0x00, Dispensing: 0x01 } as const;

function invalid(what: string, payload: Uint8Array): VendgateError {
  return new VendgateError(
    ErrorCode.DeviceFrameInvalid,
    `VSB ${what}: bad payload length ${payload.length}`,
    {
      payload: Buffer.from(payload).toString('hex'),
    },
  );
}

function u32(p: Uint8Array, o: number): number {
  return ((p[o]! << 24) | (p[o + 1]! << 16) | (p[o + 2]! << 8) | p[o + 3]!) >>> 0;
}

function putU32(p: Uint8Array, o: number, v: number): void {
  p[o] = (v >>> 24) & 0xff;
  p[o + 1] = (v >>> 16) & 0xff;
  p[o + 2] = (v >>> 8) & 0xff;
  p[o + 3] = v & 0xff;
}

function checkU32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw new RangeError(`${name} must be a u32, got ${v}`);
}

function checkU8(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`${name} must be a u8, got ${v}`);
}

/** Section 3.1: board -> host, every ~200 ms, seq 0, ACKed but never resent. */
export class PollMessage {
  static readonly command = Command.Poll;
  constructor(readonly status: number = PollStatus.Idle) {
    checkU8('status', status);
  }
  static from(p: Uint8Array): PollMessage {
    if (p.length > 1) throw invalid('POLL', p);
    return new PollMessage(p[0] ?? 0);
  }
  serialize(seq = 0): Buffer {
    return encodeFrame(Command.Poll, seq, Uint8Array.of(this.status));
  }
}

/** Section 3.2: either direction; the header seq is the acknowledged seq; no payload. */
export class AckMessage {
  static readonly command = Command.Ack;
  static from(p: Uint8Array): AckMessage {
    if (p.length !== 0) throw invalid('ACK', p);
    return new AckMessage();
  }
  serialize(seq: number): Buffer {
    return encodeFrame(Command.Ack, seq);
  }
}

/** Section 3.3: host -> board. vendToken u32, slot u8. */
export class DispenseMessage {
  static readonly command = Command.Dispense;
  constructor(
    readonly vendToken: number,
    readonly slot: number,
  ) {
    checkU32('vendToken', vendToken);
    checkU8('slot', slot);
  }
  static from(p: Uint8Array): DispenseMessage {
    if (p.length !== 5) throw invalid('DISPENSE', p);
    return new DispenseMessage(u32(p, 0), p[4]!);
  }
  payload(): Uint8Array {
    const p = new Uint8Array(5);
    putU32(p, 0, this.vendToken);
    p[4] = this.slot;
    return p;
  }
  serialize(seq: number): Buffer {
    return encodeFrame(Command.Dispense, seq, this.payload());
  }
}

/** Section 3.4: host -> board. vendToken u32. */
export class QueryVendMessage {
  static readonly command = Command.QueryVend;
  constructor(readonly vendToken: number) {
    checkU32('vendToken', vendToken);
  }
  static from(p: Uint8Array): QueryVendMessage {
    if (p.length !== 4) throw invalid('QUERY_VEND', p);
    return new QueryVendMessage(u32(p, 0));
  }
  payload(): Uint8Array {
    const p = new Uint8Array(4);
    putU32(p, 0, this.vendToken);
    return p;
  }
  serialize(seq: number): Buffer {
    return encodeFrame(Command.QueryVend, seq, this.payload());
  }
}

/** Section 3.5: host -> board, no payload; answered by INFO. */
export class GetInfoMessage {
  static readonly command = Command.GetInfo;
  static from(p: Uint8Array): GetInfoMessage {
    if (p.length !== 0) throw invalid('GET_INFO', p);
    return new GetInfoMessage();
  }
  payload(): Uint8Array {
    return new Uint8Array(0);
  }
  serialize(seq: number): Buffer {
    return encodeFrame(Command.GetInfo, seq);
  }
}

/** Section 3.6: board -> host. vendToken u32, stage u8 (1 accepted, 2 dispensing). */
export class DispenseProgressMessage {
  static readonly command = Command.DispenseProgress;
  constructor(
    readonly vendToken: number,
    readonly stage: number,
  ) {
    checkU32('vendToken', vendToken);
    checkU8('stage', stage);
  }
  static from(p: Uint8Array): DispenseProgressMessage {
    if (p.length !== 5) throw invalid('DISPENSE_PROGRESS', p);
    return new DispenseProgressMessage(u32(p, 0), p[4]!);
  }
  payload(): Uint8Array {
    const p = new Uint8Array(5);
    putU32(p, 0, this.vendToken);
    p[4] = this.stage;
    return p;
  }
  serialize(seq: number): Buffer {
    return encodeFrame(Command.DispenseProgress, seq, this.payload());
  }
}

/** Section 3.8: board -> host. vendToken u32, slot u8, result u8. */
export class DispenseResultMessage {
  static readonly command = Command.DispenseResult;
  constructor(
    readonly vendToken: number,
    readonly slot: number,
    readonly result: number,
  ) {
    checkU32('vendToken', vendToken);
    checkU8('slot', slot);
    checkU8('result', result);
  }
  static from(p: Uint8Array): DispenseResultMessage {
    if (p.length !== 6) throw invalid('DISPENSE_RESULT', p);
    return new DispenseResultMessage(u32(p, 0), p[4]!, p[5]!);
  }
  payload(): Uint8Array {
    const p = new Uint8Array(6);
    putU32(p, 0, this.vendToken);
    p[4] = this.slot;
    p[5] = this.result;
    return p;
  }
  serialize(seq: number): Buffer {
    return encodeFrame(Command.DispenseResult, seq, this.payload());
  }
}

/** Section 3.7: board -> host, answers QUERY_VEND. vendToken u32, state u8, slot u8, result u8. */
export class VendStatusMessage {
  static readonly command = Command.VendStatus;
  constructor(
    readonly vendToken: number,
    readonly state: number,
    readonly slot: number,
    readonly result: number,
  ) {
    checkU32('vendToken', vendToken);
    checkU8('state', state);
    checkU8('slot', slot);
    checkU8('result', result);
  }
  static from(p: Uint8Array): VendStatusMessage {
    if (p.length !== 7) throw invalid('VEND_STATUS', p);
    return new VendStatusMessage(u32(p, 0), p[4]!, p[5]!, p[6]!);
  }
  payload(): Uint8Array {
    const p = new Uint8Array(7);
    putU32(p, 0, this.vendToken);
    p[4] = this.state;
    p[5] = this.slot;
    p[6] = this.result;
    return p;
  }
  serialize(seq: number): Buffer {
    return encodeFrame(Command.VendStatus, seq, this.payload());
  }
}

/** Section 3.9: board -> host, answers GET_INFO. version u8, slotCount u8, firmware ASCII (<= 62 bytes). */
export class InfoMessage {
  static readonly command = Command.Info;
  constructor(
    readonly protocolVersion: number,
    readonly slotCount: number,
    readonly firmware: string,
  ) {
    checkU8('protocolVersion', protocolVersion);
    checkU8('slotCount', slotCount);
    if (Buffer.byteLength(firmware, 'latin1') > 62)
      throw new RangeError('firmware string longer than 62 bytes');
  }
  static from(p: Uint8Array): InfoMessage {
    if (p.length < 2) throw invalid('INFO', p);
    return new InfoMessage(p[0]!, p[1]!, Buffer.from(p.subarray(2)).toString('latin1'));
  }
  payload(): Uint8Array {
    const fw = Buffer.from(this.firmware, 'latin1');
    const p = new Uint8Array(2 + fw.length);
    p[0] = this.protocolVersion;
    p[1] = this.slotCount;
    p.set(fw, 2);
    return p;
  }
  serialize(seq: number): Buffer {
    return encodeFrame(Command.Info, seq, this.payload());
  }
}

export type VsbMessage =
  | PollMessage
  | AckMessage
  | DispenseMessage
  | QueryVendMessage
  | GetInfoMessage
  | DispenseProgressMessage
  | DispenseResultMessage
  | VendStatusMessage
  | InfoMessage;

/** Every message class, for round-trip tests and dispatch. */
export const MESSAGE_CLASSES = [
  PollMessage,
  AckMessage,
  DispenseMessage,
  QueryVendMessage,
  GetInfoMessage,
  DispenseProgressMessage,
  DispenseResultMessage,
  VendStatusMessage,
  InfoMessage,
] as const;

const byCommand = new Map<number, { from(p: Uint8Array): VsbMessage }>(
  MESSAGE_CLASSES.map((c) => [c.command, c]),
);

/**
 * Parses a decoded frame into its message class. Returns undefined for an
 * unknown command (section 4.4: ACK it, ignore it); throws VendgateError
 * DeviceFrameInvalid on a known command with a malformed payload.
 */
export function parseMessage(frame: Frame): VsbMessage | undefined {
  return byCommand.get(frame.command)?.from(frame.payload);
}
