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

/**
 * Section 3.9: the protocol version this code speaks (2 added the boot
 * epoch; 3 added sensors, sensed stock and reset, sections 3.10 to 3.14).
 */
export const PROTOCOL_VERSION = 3;

/** Section 3.13: SENSORS flag bits. */
export const SensorFlag = { HasDoor: 0x01, DoorOpen: 0x02, HasTemperature: 0x04 } as const;

/** Section 3.14: slot levels one STOCK frame carries at most (2 header bytes + 31 pairs = 64). */
export const STOCK_PAGE_SLOTS = 31;

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

/**
 * Section 3.10: host -> board, no payload; answered by SENSORS. A board
 * before protocol 3 ACKs it and ignores it (section 4.4), so the host may
 * ask any board.
 */
export class GetSensorsMessage {
  static readonly command = Command.GetSensors;
  static from(p: Uint8Array): GetSensorsMessage {
    if (p.length !== 0) throw invalid('GET_SENSORS', p);
    return new GetSensorsMessage();
  }
  payload(): Uint8Array {
    return new Uint8Array(0);
  }
  serialize(seq: number): Buffer {
    return encodeFrame(Command.GetSensors, seq);
  }
}

/** Section 3.11: host -> board. firstSlot u8: report sensed slots numbered firstSlot and up. */
export class GetStockMessage {
  static readonly command = Command.GetStock;
  constructor(readonly firstSlot = 0) {
    checkU8('firstSlot', firstSlot);
  }
  static from(p: Uint8Array): GetStockMessage {
    if (p.length !== 1) throw invalid('GET_STOCK', p);
    return new GetStockMessage(p[0]!);
  }
  payload(): Uint8Array {
    return Uint8Array.of(this.firstSlot);
  }
  serialize(seq: number): Buffer {
    return encodeFrame(Command.GetStock, seq, this.payload());
  }
}

/**
 * Section 3.12: host -> board. bootEpoch u32: the boot the host means to
 * restart (0 = whatever boot). A board with another epoch ignores it, so a
 * link-layer resend reaching a board that already restarted (and forgot
 * its dedupe memory) never restarts it twice.
 */
export class ResetMessage {
  static readonly command = Command.Reset;
  constructor(readonly bootEpoch = 0) {
    checkU32('bootEpoch', bootEpoch);
  }
  static from(p: Uint8Array): ResetMessage {
    if (p.length !== 4) throw invalid('RESET', p);
    return new ResetMessage(u32(p, 0));
  }
  payload(): Uint8Array {
    const p = new Uint8Array(4);
    putU32(p, 0, this.bootEpoch);
    return p;
  }
  serialize(seq: number): Buffer {
    return encodeFrame(Command.Reset, seq, this.payload());
  }
}

/**
 * Section 3.13: board -> host. flags u8 (bit 0 the board has a door
 * switch, bit 1 the door is open, bit 2 it has a cabinet thermometer),
 * temperature i16 in tenths of a degree Celsius (meaningful with bit 2).
 * Sent whenever a reading changes and in answer to GET_SENSORS.
 */
export class SensorsMessage {
  static readonly command = Command.Sensors;
  constructor(
    /** undefined: the board has no door switch. */
    readonly doorOpen: boolean | undefined,
    /** undefined: the board has no thermometer. */
    readonly temperatureDeciC: number | undefined,
  ) {
    if (
      temperatureDeciC !== undefined &&
      (!Number.isInteger(temperatureDeciC) || temperatureDeciC < -0x8000 || temperatureDeciC > 0x7fff)
    )
      throw new RangeError(`temperatureDeciC must be an i16, got ${temperatureDeciC}`);
  }
  static from(p: Uint8Array): SensorsMessage {
    if (p.length !== 3) throw invalid('SENSORS', p);
    const flags = p[0]!;
    const raw = (p[1]! << 8) | p[2]!;
    const temp = raw >= 0x8000 ? raw - 0x10000 : raw;
    return new SensorsMessage(
      flags & SensorFlag.HasDoor ? (flags & SensorFlag.DoorOpen) !== 0 : undefined,
      flags & SensorFlag.HasTemperature ? temp : undefined,
    );
  }
  payload(): Uint8Array {
    const p = new Uint8Array(3);
    let flags = 0;
    if (this.doorOpen !== undefined) flags |= SensorFlag.HasDoor | (this.doorOpen ? SensorFlag.DoorOpen : 0);
    if (this.temperatureDeciC !== undefined) {
      flags |= SensorFlag.HasTemperature;
      const raw = this.temperatureDeciC & 0xffff;
      p[1] = raw >> 8;
      p[2] = raw & 0xff;
    }
    p[0] = flags;
    return p;
  }
  serialize(seq: number): Buffer {
    return encodeFrame(Command.Sensors, seq, this.payload());
  }
}

/**
 * Section 3.14: board -> host, answers GET_STOCK. firstSlot u8 (as asked),
 * next u8 (the firstSlot to ask for the next page; 0 = this was the last),
 * then up to 31 pairs (slot u8, level u8) in ascending slot order, only for
 * slots whose level the board senses.
 */
export class StockMessage {
  static readonly command = Command.Stock;
  constructor(
    readonly firstSlot: number,
    readonly next: number,
    readonly levels: ReadonlyArray<{ slot: number; level: number }>,
  ) {
    checkU8('firstSlot', firstSlot);
    checkU8('next', next);
    if (levels.length > STOCK_PAGE_SLOTS)
      throw new RangeError(`a STOCK page carries at most ${STOCK_PAGE_SLOTS} slots, got ${levels.length}`);
    for (const l of levels) {
      checkU8('slot', l.slot);
      checkU8('level', l.level);
    }
  }
  static from(p: Uint8Array): StockMessage {
    if (p.length < 2 || p.length % 2 !== 0) throw invalid('STOCK', p);
    const levels: { slot: number; level: number }[] = [];
    for (let o = 2; o < p.length; o += 2) levels.push({ slot: p[o]!, level: p[o + 1]! });
    return new StockMessage(p[0]!, p[1]!, levels);
  }
  payload(): Uint8Array {
    const p = new Uint8Array(2 + this.levels.length * 2);
    p[0] = this.firstSlot;
    p[1] = this.next;
    this.levels.forEach((l, i) => {
      p[2 + i * 2] = l.slot;
      p[3 + i * 2] = l.level;
    });
    return p;
  }
  serialize(seq: number): Buffer {
    return encodeFrame(Command.Stock, seq, this.payload());
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
  | InfoMessage
  | GetSensorsMessage
  | GetStockMessage
  | ResetMessage
  | SensorsMessage
  | StockMessage;

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
  GetSensorsMessage,
  GetStockMessage,
  ResetMessage,
  SensorsMessage,
  StockMessage,
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
