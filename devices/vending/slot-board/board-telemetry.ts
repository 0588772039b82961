/**
 * What a protocol 3 VSB board reports about itself besides vends
 * (docs/protocols/slot-board.md, sections 3.10 to 3.14): door and cabinet
 * temperature (SENSORS, sent by the board on change and on GET_SENSORS),
 * sensed stock levels (GET_STOCK answered by STOCK, a page of up to 31
 * slots at a time) and the RESET request. Host side; the driver wires it.
 */
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import type { MachineSensors, SensedStock } from '../port.ts';
import { deviceTimeoutError } from '../request-queue.ts';
import { Command } from './codec.ts';
import type { FrameSender } from './link.ts';
import { GetStockMessage, ResetMessage, type SensorsMessage, type StockMessage } from './messages.ts';

export interface BoardTelemetryOptions {
  machineId: string;
  link: FrameSender;
  /** A STOCK page must follow its GET_STOCK's ACK within this. */
  requestTimeoutMs: number;
  /** A reading that differs from the previous one. */
  onSensors: (reading: MachineSensors) => void;
}

interface PageWaiter {
  first: number;
  timer: NodeJS.Timeout | null;
  settled: boolean;
  resolve: (m: StockMessage) => void;
  reject: (e: VendgateError) => void;
}

/** Slot numbers are u8: 255 slots in pages of 31 is at most 9 pages; more means the board loops. */
const MAX_STOCK_PAGES = 9;

export class BoardTelemetry {
  #sensors: MachineSensors | undefined;
  #pages: PageWaiter[] = [];

  constructor(private readonly opts: BoardTelemetryOptions) {}

  /** The latest reading the board reported; undefined until it reported one. */
  get sensors(): MachineSensors | undefined {
    return this.#sensors ? { ...this.#sensors } : undefined;
  }

  /**
   * Section 3.10: asks for a SENSORS report. Fire and forget: a board before
   * protocol 3 ACKs it and ignores it (section 4.4), and a lost question is
   * asked again at the next online.
   */
  requestSensors(): void {
    if (this.opts.link.open) this.opts.link.send(Command.GetSensors, new Uint8Array(0), null, null);
  }

  /** The board restarted: its earlier readings say nothing about the new boot. */
  forgetSensors(): void {
    this.#sensors = undefined;
  }

  onSensors(m: SensorsMessage): void {
    const reading: MachineSensors = {};
    if (m.doorOpen !== undefined) reading.doorOpen = m.doorOpen;
    if (m.temperatureDeciC !== undefined) reading.temperatureDeciC = m.temperatureDeciC;
    const before = this.#sensors;
    this.#sensors = reading;
    if (before?.doorOpen === reading.doorOpen && before?.temperatureDeciC === reading.temperatureDeciC)
      return;
    this.opts.onSensors({ ...reading });
  }

  /** Sections 3.11 and 3.14: every sensed slot's level, page by page, in slot order. */
  async readStock(): Promise<SensedStock[]> {
    const out: SensedStock[] = [];
    let first = 0;
    for (let page = 0; page < MAX_STOCK_PAGES; page++) {
      const m = await this.#page(first);
      for (const l of m.levels) out.push({ slot: l.slot, level: l.level });
      if (m.next === 0) return out;
      if (m.next <= first) break;
      first = m.next;
    }
    throw new VendgateError(
      ErrorCode.DeviceProtocol,
      `machine ${this.opts.machineId}: STOCK pages do not advance (next slot ${first})`,
      { machineId: this.opts.machineId },
    );
  }

  /**
   * Section 3.12: sends RESET naming the boot to restart; resolves once the
   * board acknowledged it (the restart itself is seen as a new boot epoch).
   */
  sendReset(bootEpoch: number): Promise<void> {
    const link = this.opts.link;
    if (!link.open) return Promise.reject(link.offlineError('port not open'));
    return new Promise<void>((resolve, reject) => {
      const queued = link.send(
        Command.Reset,
        new ResetMessage(bootEpoch).payload(),
        () => resolve(),
        (err) => reject(err),
      );
      if (!queued) reject(link.busyError());
    });
  }

  onStock(m: StockMessage): void {
    const waiting = this.#pages.filter((w) => w.first === m.firstSlot);
    this.#pages = this.#pages.filter((w) => w.first !== m.firstSlot);
    for (const w of waiting) settle(w, () => w.resolve(m));
  }

  failAll(err: VendgateError): void {
    const waiting = this.#pages;
    this.#pages = [];
    for (const w of waiting) settle(w, () => w.reject(err));
  }

  #page(first: number): Promise<StockMessage> {
    const link = this.opts.link;
    if (!link.open) return Promise.reject(link.offlineError('port not open'));
    return new Promise<StockMessage>((resolve, reject) => {
      const w: PageWaiter = { first, timer: null, settled: false, resolve, reject };
      const drop = () => {
        this.#pages = this.#pages.filter((x) => x !== w);
      };
      const queued = link.send(
        Command.GetStock,
        new GetStockMessage(first).payload(),
        () => {
          if (w.settled) return;
          const ms = this.opts.requestTimeoutMs;
          w.timer = setTimeout(() => {
            drop();
            settle(w, () =>
              reject(
                deviceTimeoutError(this.opts.machineId, `no STOCK within ${ms} ms`, { firstSlot: first }),
              ),
            );
          }, ms);
        },
        (err) => {
          drop();
          settle(w, () => reject(err));
        },
      );
      if (!queued) {
        settle(w, () => reject(link.busyError()));
        return;
      }
      this.#pages.push(w);
    });
  }
}

function settle(w: PageWaiter, fn: () => void): void {
  if (w.settled) return;
  w.settled = true;
  if (w.timer) clearTimeout(w.timer);
  fn();
}
