/**
 * A virtual Bluetooth LE controller behind an HCI socket interface, for
 * noble's own HCI stack (devices/beacon/scanner/noble-hci.ts).
 *
 * It speaks HCI packets, as a controller does on the kernel's raw socket
 * (Bluetooth Core Spec Vol 4 Part E): it parses the command packets noble's
 * Hci writes (`01 <opcode LE16> <len> <params>`), answers each with a
 * Command Complete event (`04 0E <len> <ncmd> <opcode LE16> <status>
 * <return params>`), keeps the LE scan state (enable, duplicate filter),
 * and delivers the simulator's advertisements as LE Advertising Report
 * events (`04 3E <len> 02 <num> {<event type> <addr type> <addr LE6>
 * <data len> <data> <rssi>}`), which noble parses itself.
 *
 * Faults a real adapter shows: power off (isDevUp false), and a stalled scan
 * (scanning stays enabled but no report arrives) that only a scan restart
 * (LE Set Scan Enable off then on) clears (REFERENCE.md "BLE scanning").
 */
import { EventEmitter } from 'node:events';

const HCI_COMMAND_PKT = 0x01;
const HCI_EVENT_PKT = 0x04;
const EVT_CMD_COMPLETE = 0x0e;
const EVT_LE_META = 0x3e;
const LE_ADVERTISING_REPORT = 0x02;

const op = (ogf: number, ocf: number) => (ogf << 10) | ocf;
export const HciOpcode = {
  SetEventMask: op(0x03, 0x0001),
  Reset: op(0x03, 0x0003),
  ReadLeHostSupported: op(0x03, 0x006c),
  WriteLeHostSupported: op(0x03, 0x006d),
  ReadLocalVersion: op(0x04, 0x0001),
  ReadSupportedCommands: op(0x04, 0x0002),
  ReadBufferSize: op(0x04, 0x0005),
  ReadBdAddr: op(0x04, 0x0009),
  LeSetEventMask: op(0x08, 0x0001),
  LeReadBufferSize: op(0x08, 0x0002),
  LeSetScanParameters: op(0x08, 0x000b),
  LeSetScanEnable: op(0x08, 0x000c),
} as const;

/** Advertising PDU types in an LE Advertising Report (Core Spec Vol 4 Part E 7.7.65.2). */
export const AdvEventType = {
  AdvInd: 0x00,
  AdvDirectInd: 0x01,
  AdvScanInd: 0x02,
  AdvNonconnInd: 0x03,
  ScanRsp: 0x04,
} as const;

export interface AdvertisingReport {
  /** `aa:bb:cc:dd:ee:ff`, most significant byte first (as noble prints it). */
  address: string;
  addressType?: 'public' | 'random';
  /** Default ADV_NONCONN_IND, what beacons send. */
  eventType?: number;
  /** Advertising data (AD structures), at most 31 bytes in a legacy report. */
  data: Uint8Array;
  /** dBm, -127..20. */
  rssi: number;
}

function addressBytes(address: string): Buffer {
  const hex = address.replaceAll(':', '');
  if (!/^[0-9a-fA-F]{12}$/.test(hex)) throw new RangeError(`bad device address ${address}`);
  return Buffer.from(hex, 'hex').reverse();
}

/** One LE Advertising Report event packet (HCI event, with the 0x04 packet indicator) holding `reports`. */
export function encodeLeAdvertisingReport(reports: readonly AdvertisingReport[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of reports) {
    if (r.data.length > 31)
      throw new RangeError(`advertising data is ${r.data.length} bytes; a legacy report holds 31`);
    const head = Buffer.alloc(9);
    head[0] = r.eventType ?? AdvEventType.AdvNonconnInd;
    head[1] = r.addressType === 'random' ? 0x01 : 0x00;
    addressBytes(r.address).copy(head, 2);
    head[8] = r.data.length;
    const rssi = Buffer.alloc(1);
    rssi.writeInt8(Math.max(-127, Math.min(20, Math.round(r.rssi))));
    parts.push(head, Buffer.from(r.data), rssi);
  }
  const params = Buffer.concat([Buffer.from([LE_ADVERTISING_REPORT, reports.length]), ...parts]);
  if (params.length > 255) throw new RangeError('too many reports for one HCI event');
  return Buffer.concat([Buffer.from([HCI_EVENT_PKT, EVT_LE_META, params.length]), params]);
}

function commandComplete(opcode: number, status: number, ret: Uint8Array = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(7 + ret.length);
  b[0] = HCI_EVENT_PKT;
  b[1] = EVT_CMD_COMPLETE;
  b[2] = 4 + ret.length;
  b[3] = 1; // Num_HCI_Command_Packets
  b.writeUInt16LE(opcode, 4);
  b[6] = status;
  Buffer.from(ret).copy(b, 7);
  return b;
}

export interface VirtualHciControllerOptions {
  /** The controller's own public address. */
  address?: string;
  /** Whether the adapter is up. Default true. */
  powered?: boolean;
  /** HCI version reported by Read Local Version (noble wants >= 6, i.e. 4.0). Default 0x09 (5.0). */
  hciVersion?: number;
}

export interface VirtualHciStats {
  commands: number;
  /** LE Set Scan Enable commands with enable = 1. */
  scanEnables: number;
  scanDisables: number;
  reportsDelivered: number;
  /** Reports not delivered: scan off, stalled, filtered as duplicates, or socket not started. */
  reportsDropped: number;
}

/** The virtual controller, seen by noble's Hci as its socket. */
export class VirtualHciController extends EventEmitter {
  readonly address: string;
  readonly #hciVersion: number;
  #powered: boolean;
  #started = false;
  #closed = false;
  #scanning = false;
  #filterDuplicates = false;
  #stalled = false;
  readonly #seen = new Set<string>();
  readonly #queue: Buffer[] = [];
  #flushing = false;
  readonly #idle: Array<() => void> = [];
  readonly stats: VirtualHciStats = {
    commands: 0,
    scanEnables: 0,
    scanDisables: 0,
    reportsDelivered: 0,
    reportsDropped: 0,
  };

  constructor(opts: VirtualHciControllerOptions = {}) {
    super();
    this.address = opts.address ?? '00:1a:7d:da:71:13';
    this.#powered = opts.powered ?? true;
    this.#hciVersion = opts.hciVersion ?? 0x09;
  }

  // ------------------------------------------------ the socket, as noble's Hci uses it

  bindRaw(deviceId?: number): number {
    return deviceId ?? 0;
  }

  bindUser(deviceId?: number): number {
    return deviceId ?? 0;
  }

  start(): void {
    this.#started = true;
  }

  stop(): void {
    this.#started = false;
  }

  isDevUp(): boolean {
    return this.#powered && !this.#closed;
  }

  setFilter(_filter: Buffer): void {}

  write(pkt: Buffer): void {
    if (this.#closed || !this.#powered) return;
    if (pkt[0] !== HCI_COMMAND_PKT || pkt.length < 4) return;
    const opcode = pkt.readUInt16LE(1);
    const params = pkt.subarray(4, 4 + pkt[3]!);
    this.stats.commands++;
    this.#send(this.#execute(opcode, params));
  }

  // ------------------------------------------------ the radio side, for the simulator

  /** Whether the host has scanning enabled. */
  get scanning(): boolean {
    return this.#scanning;
  }

  get stalled(): boolean {
    return this.#stalled;
  }

  /**
   * Delivers an advertisement heard on air to the host, as an LE Advertising
   * Report, if the controller is scanning. Synchronous: noble has parsed it
   * and emitted 'discover' when this returns. Returns whether it was delivered.
   */
  report(r: AdvertisingReport): boolean {
    if (!this.#started || this.#closed || !this.#powered || !this.#scanning || this.#stalled) {
      this.stats.reportsDropped++;
      return false;
    }
    if (this.#filterDuplicates) {
      const key = `${r.address}/${Buffer.from(r.data).toString('hex')}`;
      if (this.#seen.has(key)) {
        this.stats.reportsDropped++;
        return false;
      }
      this.#seen.add(key);
    }
    this.stats.reportsDelivered++;
    this.emit('data', encodeLeAdvertisingReport([r]));
    return true;
  }

  /** The scan stalls: still enabled, but silent until the host restarts it. */
  stall(): void {
    this.#stalled = true;
  }

  /** Power the adapter off or on (noble polls isDevUp every second and reports poweredOff/poweredOn). */
  setPowered(on: boolean): void {
    this.#powered = on;
    if (!on) this.#scanning = false;
  }

  /** Resolves when every queued event packet has been handed to the host (and the host stopped sending commands). */
  settle(): Promise<void> {
    if (this.#queue.length === 0 && !this.#flushing) return new Promise((r) => setImmediate(r));
    return new Promise((r) => this.#idle.push(r));
  }

  close(): void {
    this.#closed = true;
    this.#scanning = false;
  }

  // ------------------------------------------------ internals

  #send(pkt: Buffer): void {
    this.#queue.push(pkt);
    if (this.#flushing) return;
    this.#flushing = true;
    // Asynchronous, as a socket is: noble writes several commands in a row
    // before it expects the first answer.
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    const pkt = this.#queue.shift();
    if (pkt !== undefined && !this.#closed) this.emit('data', pkt);
    if (this.#queue.length > 0) {
      setImmediate(() => this.#flush());
      return;
    }
    this.#flushing = false;
    const idle = this.#idle.splice(0);
    for (const r of idle) setImmediate(r);
  }

  #execute(opcode: number, p: Buffer): Buffer {
    switch (opcode) {
      case HciOpcode.Reset:
        this.#scanning = false;
        return commandComplete(opcode, 0);
      case HciOpcode.ReadLocalVersion: {
        const ret = Buffer.alloc(8);
        ret[0] = this.#hciVersion;
        ret.writeUInt16LE(0x0100, 1);
        ret[3] = this.#hciVersion;
        ret.writeUInt16LE(0x05f1, 4); // company id: "Linux Foundation", a stand-in
        ret.writeUInt16LE(0x0001, 6);
        return commandComplete(opcode, 0, ret);
      }
      case HciOpcode.ReadBdAddr:
        return commandComplete(opcode, 0, addressBytes(this.address));
      case HciOpcode.ReadLeHostSupported:
        return commandComplete(opcode, 0, Buffer.from([0x01, 0x00]));
      case HciOpcode.LeReadBufferSize:
        return commandComplete(opcode, 0, Buffer.from([27, 0, 8]));
      case HciOpcode.ReadBufferSize:
        return commandComplete(opcode, 0, Buffer.from([27, 0, 0, 8, 0, 0, 0]));
      case HciOpcode.ReadSupportedCommands:
        return commandComplete(opcode, 0, Buffer.alloc(64));
      case HciOpcode.SetEventMask:
      case HciOpcode.WriteLeHostSupported:
      case HciOpcode.LeSetEventMask:
      case HciOpcode.LeSetScanParameters:
        return commandComplete(opcode, 0);
      case HciOpcode.LeSetScanEnable: {
        const enable = p[0] === 1;
        if (enable) {
          this.stats.scanEnables++;
          this.#stalled = false;
          this.#seen.clear();
          this.#filterDuplicates = p[1] === 1;
        } else {
          this.stats.scanDisables++;
        }
        this.#scanning = enable;
        return commandComplete(opcode, 0);
      }
      default:
        return commandComplete(opcode, 0x01); // Unknown HCI Command
    }
  }
}
