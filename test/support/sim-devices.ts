import { join } from 'node:path';
import {
  type MdbItem,
  type MdbSessionRecord,
  MdbSim,
  type MdbSimFault,
  type MdbSimOptions,
} from '../../firmware-sim/mdb/sim.ts';
import type { MdbSimProcess } from '../../firmware-sim/mdb/spawn.ts';
import { spawnMdbSim } from '../../firmware-sim/mdb/spawn.ts';
import { createPtyPair, type PtyPair } from '../../firmware-sim/pty.ts';
import {
  type SimFault,
  SlotBoardSim,
  type SlotBoardSimOptions,
  type VendRecord,
} from '../../firmware-sim/slot-board/sim.ts';
import { type SlotBoardProcess, spawnSlotBoard } from '../../firmware-sim/slot-board/spawn.ts';
import { createMemoryTransportPair, type MemoryTransport } from '../../testing/memory-transport.ts';
import { waitUntil } from '../../testing/wait.ts';

/**
 * Where a simulated device runs: `memory` is the simulator in this process on
 * a MemoryTransport pair (fast, no processes); `pty` is the simulator as its
 * own process on one end of a socat pty pair, the gateway on the other, as on
 * a real serial line.
 */
export type DeviceMode = 'memory' | 'pty';

/** One event of a simulator, in the shape its process prints on stdout ({event, ...fields}). */
export interface SimEventLine {
  event: string;
  [key: string]: unknown;
}

export interface WaitForEventOptions {
  timeoutMs?: number;
  /** Also match events seen before the call. */
  includePast?: boolean;
}

type EventMatch = string | ((e: SimEventLine) => boolean);

/** What both modes of a simulated device offer a test. */
interface SimDevice<Fault, Record> {
  /** The machine id in the gateway config (m1, c1, ...). */
  readonly id: string;
  readonly mode: DeviceMode;
  /** The port the gateway side opens: the pty's host link, or a memory:// URL. */
  readonly url: string;
  /** Every event so far, in order. */
  readonly events: readonly SimEventLine[];
  fault(f: Fault): void;
  /** Every final outcome the device logged, in order. */
  readLog(): Record[];
  waitForEvent(match: EventMatch, opts?: WaitForEventOptions): Promise<SimEventLine>;
  /** pty mode: the socat pair (restart it to unplug the cable). */
  readonly pty?: PtyPair;
  /** memory mode: the gateway's end of the transport pair. */
  readonly host?: MemoryTransport;
  /** memory mode: the simulator's end of the transport pair. */
  readonly device?: MemoryTransport;
  stop(): Promise<void>;
}

export interface RigSlotBoard extends SimDevice<SimFault, VendRecord> {
  /** memory mode: the simulator itself. */
  readonly sim?: SlotBoardSim;
  /** pty mode: the simulator process. */
  readonly process?: SlotBoardProcess;
}

export interface RigMdbMachine extends SimDevice<MdbSimFault, MdbSessionRecord> {
  /** Presses the button for `item` on the machine. */
  select(item: number): void;
  readonly sim?: MdbSim;
  readonly process?: MdbSimProcess;
}

export interface SlotBoardSpec {
  id: string;
  mode: DeviceMode;
  /** Working directory (pty links, vend log). */
  dir: string;
  slots: { slot: number; stock: number; price: number }[];
  motorMs: number;
  /** Further simulator options: all of them in memory mode; on a pty, its protocol version only. */
  sim?: Partial<SlotBoardSimOptions>;
}

export interface MdbMachineSpec {
  id: string;
  mode: DeviceMode;
  dir: string;
  items: MdbItem[];
  vendMs?: number;
  /** memory mode: further simulator options. */
  sim?: Partial<MdbSimOptions>;
}

export async function startSlotBoard(spec: SlotBoardSpec): Promise<RigSlotBoard> {
  if (spec.mode === 'pty') {
    const pty = await createPtyPair(spec.dir, { hostName: `gw-${spec.id}`, deviceName: `board-${spec.id}` });
    try {
      const proc = await spawnSlotBoard({
        port: pty.devicePath,
        logPath: join(spec.dir, `${spec.id}-vends.jsonl`),
        motorMs: spec.motorMs,
        config: {
          slots: spec.slots,
          ...(spec.sim?.protocolVersion !== undefined ? { protocolVersion: spec.sim.protocolVersion } : {}),
        },
      });
      return {
        id: spec.id,
        mode: 'pty',
        url: pty.hostPath,
        pty,
        process: proc,
        events: proc.events,
        fault: (f) => proc.fault(f),
        readLog: () => proc.readLog(),
        waitForEvent: (match, opts) => proc.waitForEvent(match, opts),
        stop: async () => {
          await proc.stop().catch(() => {});
          await pty.close().catch(() => {});
        },
      };
    } catch (err) {
      await pty.close().catch(() => {});
      throw err;
    }
  }
  const { host, device } = createMemoryTransportPair(spec.id);
  const log: VendRecord[] = [];
  const sim = new SlotBoardSim(device, {
    slots: spec.slots,
    motorMs: spec.motorMs,
    ...spec.sim,
    onOutcome: (r) => {
      log.push(r);
      spec.sim?.onOutcome?.(r);
    },
  });
  const events: SimEventLine[] = [];
  sim.on('vend', (r) => events.push({ event: 'vend', ...r }));
  sim.on('dispense-start', (vendToken, slot) => events.push({ event: 'dispense-start', vendToken, slot }));
  sim.on('port-open', () => events.push({ event: 'port-open' }));
  sim.on('port-closed', (reason) => events.push({ event: 'port-closed', reason }));
  sim.on('fault', (fault) => events.push({ event: 'fault', fault }));
  await sim.start();
  return {
    id: spec.id,
    mode: 'memory',
    url: host.url,
    host,
    device,
    sim,
    events,
    fault: (f) => sim.applyFault(f),
    readLog: () => [...log],
    waitForEvent: (match, opts) => waitForEventIn(events, match, `${spec.id} event`, opts),
    stop: () => sim.stop(),
  };
}

export async function startMdbMachine(spec: MdbMachineSpec): Promise<RigMdbMachine> {
  if (spec.mode === 'pty') {
    const pty = await createPtyPair(spec.dir, {
      hostName: `gw-${spec.id}`,
      deviceName: `adapter-${spec.id}`,
    });
    try {
      const proc = await spawnMdbSim({
        port: pty.devicePath,
        logPath: join(spec.dir, `${spec.id}-sessions.jsonl`),
        config: { items: spec.items, ...(spec.vendMs === undefined ? {} : { vendMs: spec.vendMs }) },
      });
      return {
        id: spec.id,
        mode: 'pty',
        url: pty.hostPath,
        pty,
        process: proc,
        events: proc.events,
        select: (item) => proc.select(item),
        fault: (f) => proc.fault(f),
        readLog: () => proc.readLog(),
        waitForEvent: (match, opts) => proc.waitForEvent(match, opts),
        stop: async () => {
          await proc.stop().catch(() => {});
          await pty.close().catch(() => {});
        },
      };
    } catch (err) {
      await pty.close().catch(() => {});
      throw err;
    }
  }
  const { host, device } = createMemoryTransportPair(spec.id);
  const log: MdbSessionRecord[] = [];
  const sim = new MdbSim(device, {
    items: spec.items,
    ...(spec.vendMs === undefined ? {} : { vendMs: spec.vendMs }),
    ...spec.sim,
    onOutcome: (r) => {
      log.push(r);
      spec.sim?.onOutcome?.(r);
    },
  });
  const events: SimEventLine[] = [];
  for (const name of [
    'vend-request',
    'approved',
    'denied',
    'vend-success',
    'vend-fail',
    'cancelled',
    'select-ignored',
  ] as const) {
    sim.on(name, (e: object) => events.push({ event: name, ...e }));
  }
  sim.on('status', (state) => events.push({ event: 'status', state }));
  sim.on('port-open', () => events.push({ event: 'port-open' }));
  sim.on('port-closed', (reason) => events.push({ event: 'port-closed', reason }));
  sim.on('fault', (fault) => events.push({ event: 'fault', fault }));
  await sim.start();
  return {
    id: spec.id,
    mode: 'memory',
    url: host.url,
    host,
    device,
    sim,
    events,
    select: (item) => {
      sim.select(item);
    },
    fault: (f) => sim.applyFault(f),
    readLog: () => [...log],
    waitForEvent: (match, opts) => waitForEventIn(events, match, `${spec.id} event`, opts),
    stop: () => sim.stop(),
  };
}

/** The in-process counterpart of a simulator process's waitForEvent, over its event list. */
async function waitForEventIn(
  events: readonly SimEventLine[],
  match: EventMatch,
  what: string,
  opts: WaitForEventOptions = {},
): Promise<SimEventLine> {
  const test = typeof match === 'string' ? (e: SimEventLine) => e.event === match : match;
  let from = opts.includePast ? 0 : events.length;
  let found: SimEventLine | undefined;
  await waitUntil(
    () => {
      for (; from < events.length; from++) {
        if (test(events[from]!)) {
          found = events[from];
          return true;
        }
      }
      return false;
    },
    { timeoutMs: opts.timeoutMs ?? 10_000, what: typeof match === 'string' ? `${what} ${match}` : what },
  );
  return found!;
}
