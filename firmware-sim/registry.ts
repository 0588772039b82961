/**
 * The simulator of each vending driver in devices/vending/registry.ts: the
 * `vendgate sim <command>` entry that runs it on a serial port, and how to
 * spawn it as its own process on the device end of a fresh socat pty pair
 * (the gateway opens the host end). Keyed by driver name, and checked
 * against the driver registry at compile time: a driver without a simulator,
 * or a simulator without a driver, does not build.
 */
import { join } from 'node:path';
import type { VendingDriverName } from '../devices/vending/registry.ts';
import { type MdbSimProcess, spawnMdbSim } from './mdb/spawn.ts';
import { createPtyPair, type PtyPair } from './pty.ts';
import { type SlotBoardProcess, spawnSlotBoard } from './slot-board/spawn.ts';

/** What a site asks of any simulated machine: what it sells, at which price, and where it keeps its files. */
export interface SimMachineSpec {
  /** Working directory: the pty links and the simulator's log live here. */
  dir: string;
  /**
   * Selection numbers with their price in minor units (the MDB simulator
   * takes it as its scaled price: the same with scale factor 1 and 2 decimals).
   */
  items: ReadonlyArray<{ slot: number; price: number }>;
  /** Products per slot, for simulators that count stock. Default 1000. */
  stock?: number;
  /** How long a vend takes on the machine, for simulators that model it. */
  vendMs?: number;
}

/** A simulator running on its pty: the pair (its `hostPath` for the gateway) and the process. */
export interface SpawnedSim<P> {
  pty: PtyPair;
  sim: P;
  /** The simulator's log of finished vends or sessions (JSONL). */
  logPath: string;
}

export interface VendingSimulator<P extends { stop(): Promise<void> }> {
  /** `vendgate sim <command>`. */
  readonly command: string;
  /** Runs the simulator in this process with CLI arguments (`--port PATH ...`); resolves with the exit code. */
  run(args: string[]): Promise<number>;
  /** Spawns the simulator as its own process on a new pty pair in `spec.dir`. */
  spawnOnPty(spec: SimMachineSpec): Promise<SpawnedSim<P>>;
}

/** Creates the pty pair, then the process on its device end; closes the pair when the process does not start. */
async function onPty<P>(
  dir: string,
  deviceName: string,
  logName: string,
  spawn: (devicePath: string, logPath: string) => Promise<P>,
): Promise<SpawnedSim<P>> {
  const pty = await createPtyPair(dir, { hostName: 'gateway', deviceName });
  const logPath = join(dir, logName);
  try {
    return { pty, sim: await spawn(pty.devicePath, logPath), logPath };
  } catch (err) {
    await pty.close().catch(() => {});
    throw err;
  }
}

const slotBoardSimulator: VendingSimulator<SlotBoardProcess> = {
  command: 'slot-board',
  run: async (args) => (await import('./slot-board/main.ts')).runSlotBoardSim(args),
  spawnOnPty: (spec) =>
    onPty(spec.dir, 'board', 'vends.jsonl', (port, logPath) =>
      spawnSlotBoard({
        port,
        logPath,
        ...(spec.vendMs === undefined ? {} : { motorMs: spec.vendMs }),
        config: {
          slots: spec.items.map((i) => ({ slot: i.slot, stock: spec.stock ?? 1000, price: i.price })),
        },
      }),
    ),
};

const mdbSimulator: VendingSimulator<MdbSimProcess> = {
  command: 'mdb',
  run: async (args) => (await import('./mdb/main.ts')).runMdbSim(args),
  spawnOnPty: (spec) =>
    onPty(spec.dir, 'adapter', 'sessions.jsonl', (port, logPath) =>
      spawnMdbSim({
        port,
        logPath,
        // A control socket on a free TCP port: `vendgate sim select --control PORT --item N`.
        control: 0,
        config: {
          items: spec.items.map((i) => ({ item: i.slot, price: i.price })),
          ...(spec.vendMs === undefined ? {} : { vendMs: spec.vendMs }),
        },
      }),
    ),
};

/** One simulator per vending driver, by driver name. */
export const VENDING_SIMULATORS = {
  'slot-board': slotBoardSimulator,
  mdb: mdbSimulator,
} as const satisfies { readonly [N in VendingDriverName]: VendingSimulator<{ stop(): Promise<void> }> };

/** The simulator `vendgate sim <command>` runs, if any. */
export function simulatorForCommand(
  command: string | undefined,
): VendingSimulator<{ stop(): Promise<void> }> | undefined {
  return Object.values(VENDING_SIMULATORS).find((s) => s.command === command);
}
