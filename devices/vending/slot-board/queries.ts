/**
 * Questions to a VSB board (docs/protocols/slot-board.md, sections 3.4,
 * 3.5, 3.7 and 3.9): QUERY_VEND answered by VEND_STATUS, GET_INFO answered
 * by INFO. A reply must follow within `requestTimeoutMs` of the board's ACK
 * of the question, else DeviceTimeout. Several callers asking the same
 * question share the one reply that comes.
 */
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import type { VendQueryResult } from '../port.ts';
import { deviceTimeoutError } from '../request-queue.ts';
import { Command } from './codec.ts';
import type { FrameSender } from './link.ts';
import {
  type InfoMessage,
  QueryVendMessage,
  ResultCode,
  VendState,
  type VendStatusMessage,
} from './messages.ts';
import { toOutcome } from './vend-jobs.ts';

export interface SlotBoardInfo {
  protocolVersion: number;
  slotCount: number;
  firmware: string;
  /** The board's boot epoch (protocol 2, section 3.9). */
  bootEpoch?: number;
}

export interface BoardQueriesOptions {
  machineId: string;
  link: FrameSender;
  requestTimeoutMs: number;
  /** Every boot epoch a VEND_STATUS or INFO reported, before its callers hear the answer. */
  onBootEpoch: (epoch: number) => void;
}

interface Waiter<T> {
  settled: boolean;
  timer: NodeJS.Timeout | null;
  resolve: (v: T) => void;
  reject: (e: VendgateError) => void;
}

/** Section 3.9: a VEND_STATUS as the domain's answer to "what became of this token". */
export function vendStatusResult(m: VendStatusMessage): VendQueryResult {
  switch (m.state) {
    case VendState.NeverSeen:
      // Which board said so matters (section 6): a board that lost its memory says it too.
      return m.bootEpoch === undefined
        ? { kind: 'never-seen', vendToken: m.vendToken }
        : { kind: 'never-seen', vendToken: m.vendToken, bootEpoch: m.bootEpoch };
    case VendState.InProgress:
      return { kind: 'in-progress', vendToken: m.vendToken };
    case VendState.Dispensed:
      return { kind: 'dispensed', vendToken: m.vendToken, slot: m.slot };
    default:
      // A failed vend reporting SUCCESS as its result is inconsistent: keep it a failure ('other').
      return toOutcome(m.vendToken, m.slot, m.result === ResultCode.Success ? 0xff : m.result);
  }
}

export class BoardQueries {
  private readonly queries = new Map<number, Waiter<VendQueryResult>[]>();
  private infoWaiters: Waiter<SlotBoardInfo>[] = [];

  constructor(private readonly opts: BoardQueriesOptions) {}

  queryVend(vendToken: number): Promise<VendQueryResult> {
    if (!Number.isInteger(vendToken) || vendToken < 0 || vendToken > 0xffffffff) {
      return Promise.reject(
        new VendgateError(ErrorCode.DeviceProtocol, 'vendToken must be a u32', { vendToken }),
      );
    }
    const link = this.opts.link;
    if (!link.open) return Promise.reject(link.offlineError('port not open', { vendToken }));
    return new Promise<VendQueryResult>((resolve, reject) => {
      const w: Waiter<VendQueryResult> = { settled: false, timer: null, resolve, reject };
      const queued = link.send(
        Command.QueryVend,
        new QueryVendMessage(vendToken).payload(),
        () => this.arm(w, 'VEND_STATUS', { vendToken }, () => this.dropQuery(vendToken, w)),
        (err) => {
          this.dropQuery(vendToken, w);
          settleReject(w, err);
        },
      );
      if (!queued) {
        settleReject(w, link.busyError({ vendToken }));
        return;
      }
      let list = this.queries.get(vendToken);
      if (!list) {
        list = [];
        this.queries.set(vendToken, list);
      }
      list.push(w);
    });
  }

  /** Asks the board for its protocol version, slot count and firmware (GET_INFO, section 3.5). */
  info(): Promise<SlotBoardInfo> {
    const link = this.opts.link;
    if (!link.open) return Promise.reject(link.offlineError('port not open'));
    return new Promise<SlotBoardInfo>((resolve, reject) => {
      const w: Waiter<SlotBoardInfo> = { settled: false, timer: null, resolve, reject };
      const drop = () => {
        this.infoWaiters = this.infoWaiters.filter((x) => x !== w);
      };
      const queued = link.send(
        Command.GetInfo,
        new Uint8Array(0),
        () => this.arm(w, 'INFO', {}, drop),
        (err) => {
          drop();
          settleReject(w, err);
        },
      );
      if (!queued) {
        settleReject(w, link.busyError());
        return;
      }
      this.infoWaiters.push(w);
    });
  }

  onVendStatus(m: VendStatusMessage): void {
    if (m.bootEpoch !== undefined) this.opts.onBootEpoch(m.bootEpoch);
    const list = this.queries.get(m.vendToken);
    if (!list) return;
    this.queries.delete(m.vendToken);
    const r = vendStatusResult(m);
    for (const w of list) settleResolve(w, r);
  }

  onInfo(m: InfoMessage): void {
    if (m.bootEpoch !== undefined) this.opts.onBootEpoch(m.bootEpoch);
    const list = this.infoWaiters;
    this.infoWaiters = [];
    const info: SlotBoardInfo = {
      protocolVersion: m.protocolVersion,
      slotCount: m.slotCount,
      firmware: m.firmware,
    };
    if (m.bootEpoch !== undefined) info.bootEpoch = m.bootEpoch;
    for (const w of list) settleResolve(w, info);
  }

  /** Rejects every question awaiting its reply with `err`. */
  failAll(err: VendgateError): void {
    for (const [, list] of this.queries) for (const w of list) settleReject(w, err);
    this.queries.clear();
    for (const w of this.infoWaiters) settleReject(w, err);
    this.infoWaiters = [];
  }

  private arm<T>(w: Waiter<T>, what: string, context: Record<string, unknown>, drop: () => void): void {
    if (w.settled) return;
    const ms = this.opts.requestTimeoutMs;
    w.timer = setTimeout(() => {
      drop();
      settleReject(w, deviceTimeoutError(this.opts.machineId, `no ${what} within ${ms} ms`, context));
    }, ms);
  }

  private dropQuery(vendToken: number, w: Waiter<VendQueryResult>): void {
    const list = this.queries.get(vendToken);
    if (!list) return;
    const rest = list.filter((x) => x !== w);
    if (rest.length) this.queries.set(vendToken, rest);
    else this.queries.delete(vendToken);
  }
}

function settleResolve<T>(w: Waiter<T>, v: T): void {
  if (w.settled) return;
  w.settled = true;
  if (w.timer) clearTimeout(w.timer);
  w.resolve(v);
}

function settleReject<T>(w: Waiter<T>, e: VendgateError): void {
  if (w.settled) return;
  w.settled = true;
  if (w.timer) clearTimeout(w.timer);
  w.reject(e);
}
