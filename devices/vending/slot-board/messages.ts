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
  /** Section 6: the DISPENSE named another boot epoch; not acted on, not remembered. */
  WrongEpoch: 0x08,
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
  8: 'wrong-epoch',
};

/** Section 3.9: the protocol version this code speaks (2 added the boot epoch). */
export const PROTOCOL_VERSION = 2;

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

/** A boot epoch is 1..2^32-1; 0 means "not known" where the protocol allows it (section 4.4). */
function checkEpoch(name: string, v: number | undefined): void {
  if (v === undefined) return;
  checkU32(name, v);
}

function checkU8(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`${name} must be a u8, got ${v}`);
}

/**
 * Section 3.1: board -> host, every ~200 ms, seq 0, ACKed but never resent.
 * status u8, bootEpoch u32 (protocol 2; a protocol 1 board sends the status alone).
 */
export class PollMessage {
  static readonly command = Command.Poll;
  constructor(
    readonly status: number = PollStatus.Idle,
    readonly bootEpoch?: number,
  ) {
    checkU8('status', status);
    checkEpoch('bootEpoch', bootEpoch);
  }
  static from(p: Uint8Array): PollMessage {
    if (p.length === 5) return new PollMessage(p[0]!, u32(p, 1));
    if (p.length > 1) throw invalid('POLL', p);
    return new PollMessage(p[0] ?? 0);
  }
  payload(): Uint8Array {
    if (this.bootEpoch === undefined) return Uint8Array.of(this.status);
    const p = new Uint8Array(5);
    p[0] = this.status;
    putU32(p, 1, this.bootEpoch);
    return p;
  }
  serialize(seq = 0): Buffer {
    return encodeFrame(Command.Poll, seq, this.payload());
  }
}

/**
 * Section 3.2: either direction; the header seq is the acknowledged seq.
 * No payload, except the board's ACK of a DISPENSE, which carries its boot
 * epoch u32 (protocol 2): "this incarnation of the board received it".
 */
export class AckMessage {
  static readonly command = Command.Ack;
  constructor(readonly bootEpoch?: number) {
    checkEpoch('bootEpoch', bootEpoch);
  }
  static from(p: Uint8Array): AckMessage {
    if (p.length === 4) return new AckMessage(u32(p, 0));
    if (p.length !== 0) throw invalid('ACK', p);
    return new AckMessage();
  }
  payload(): Uint8Array {
    if (this.bootEpoch === undefined) return new Uint8Array(0);
    const p = new Uint8Array(4);
    putU32(p, 0, this.bootEpoch);
    return p;
  }
  serialize(seq: number): Buffer {
    return encodeFrame(Command.Ack, seq, this.payload());
  }
}

/**
 * Section 3.3: host -> board. vendToken u32, slot u8, bootEpoch u32: the
 * boot epoch of the board the host means (0 = not known yet). A board with
 * another epoch refuses it (result wrong-epoch), so a DISPENSE meant for a
 * board that restarted meanwhile, a link-layer resend included, never acts.
 * A protocol 1 host sends 5 bytes (no epoch).
 */
export class DispenseMessage {
  static readonly command = Command.Dispense;
  constructor(
    readonly vendToken: number,
    readonly slot: number,
    readonly bootEpoch = 0,
  ) {
    checkU32('vendToken', vendToken);
    checkU8('slot', slot);
    checkU32('bootEpoch', bootEpoch);
  }
  static from(p: Uint8Array): DispenseMessage {
    if (p.length === 9) return new DispenseMessage(u32(p, 0), p[4]!, u32(p, 5));
    if (p.length !== 5) throw invalid('DISPENSE', p);
    return new DispenseMessage(u32(p, 0), p[4]!);
  }
  payload(): Uint8Array {
    const p = new Uint8Array(9);
    putU32(p, 0, this.vendToken);
    p[4] = this.slot;
    putU32(p, 5, this.bootEpoch);
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

/**
 * Section 3.7: board -> host, answers QUERY_VEND. vendToken u32, state u8,
 * slot u8, result u8, bootEpoch u32 (protocol 2: which incarnation of the
 * board answered; a protocol 1 board sends 7 bytes).
 */
export class VendStatusMessage {
  static readonly command = Command.VendStatus;
  constructor(
    readonly vendToken: number,
    readonly state: number,
    readonly slot: number,
    readonly result: number,
    readonly bootEpoch?: number,
  ) {
    checkU32('vendToken', vendToken);
    checkU8('state', state);
    checkU8('slot', slot);
    checkU8('result', result);
    checkEpoch('bootEpoch', bootEpoch);
  }
  static from(p: Uint8Array): VendStatusMessage {
    if (p.length === 11) return new VendStatusMessage(u32(p, 0), p[4]!, p[5]!, p[6]!, u32(p, 7));
    if (p.length !== 7) throw invalid('VEND_STATUS', p);
    return new VendStatusMessage(u32(p, 0), p[4]!, p[5]!, p[6]!);
  }
  payload(): Uint8Array {
    const p = new Uint8Array(this.bootEpoch === undefined ? 7 : 11);
    putU32(p, 0, this.vendToken);
    p[4] = this.state;
    p[5] = this.slot;
    p[6] = this.result;
    if (this.bootEpoch !== undefined) putU32(p, 7, this.bootEpoch);
    return p;
  }
  serialize(seq: number): Buffer {
    return encodeFrame(Command.VendStatus, seq, this.payload());
  }
}

/**
 * Section 3.9: board -> host, answers GET_INFO. version u8, slotCount u8,
 * then from protocol 2 bootEpoch u32, then firmware ASCII (<= 58 bytes; 62
 * in protocol 1, which has no epoch).
 */
export class InfoMessage {
  static readonly command = Command.Info;
  readonly bootEpoch: number | undefined;
  constructor(
    readonly protocolVersion: number,
    readonly slotCount: number,
    readonly firmware: string,
    bootEpoch?: number,
  ) {
    checkU8('protocolVersion', protocolVersion);
    checkU8('slotCount', slotCount);
    checkEpoch('bootEpoch', bootEpoch);
    if (protocolVersion >= 2 && bootEpoch === undefined)
      throw new RangeError(`INFO of protocol ${protocolVersion} needs a bootEpoch`);
    this.bootEpoch = protocolVersion >= 2 ? bootEpoch : undefined;
    const room = protocolVersion >= 2 ? 58 : 62;
    if (Buffer.byteLength(firmware, 'latin1') > room)
      throw new RangeError(`firmware string longer than ${room} bytes`);
  }
  static from(p: Uint8Array): InfoMessage {
    if (p.length < 2) throw invalid('INFO', p);
    if (p[0]! < 2) return new InfoMessage(p[0]!, p[1]!, Buffer.from(p.subarray(2)).toString('latin1'));
    if (p.length < 6) throw invalid('INFO', p);
    return new InfoMessage(p[0]!, p[1]!, Buffer.from(p.subarray(6)).toString('latin1'), u32(p, 2));
  }
  payload(): Uint8Array {
    const fw = Buffer.from(this.firmware, 'latin1');
    const head = this.bootEpoch === undefined ? 2 : 6;
    const p = new Uint8Array(head + fw.length);
    p[0] = this.protocolVersion;
    p[1] = this.slotCount;
    if (this.bootEpoch !== undefined) putU32(p, 2, this.bootEpoch);
    p.set(fw, head);
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
