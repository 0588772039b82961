/**
 * Runs the simulated slot board (main.ts) as a child process, for tests and
 * the demo: waits for its "ready" line, collects its stdout events, sends
 * faults on its stdin and reads its vend log.
 */
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readJsonLines, spawnSimProcess, waitForReady } from '../sim-process.ts';
import type { SlotBoardSimConfig } from './main.ts';
import type { SimFault, VendRecord } from './sim.ts';

const here = dirname(fileURLToPath(import.meta.url));
const MAIN = join(here, 'main.ts');

export interface SpawnSlotBoardOptions {
  /** The serial port the board opens (the device end of a pty pair). */
  port: string;
  /** JSONL vend log; every final outcome is appended as {vendToken, slot, outcome, at}. */
  logPath?: string;
  config?: SlotBoardSimConfig;
  /** The board's token memory across restarts (--state); delete it to play a power cut that lost it. */
  statePath?: string;
  /** This boot's epoch (--boot-epoch); default random. */
  bootEpoch?: number;
  motorMs?: number;
  pollMs?: number;
  baudRate?: number;
  /** Wait this long for the "ready" line, default 30 s (tsx compiles on start; many at once on a small machine are slow). */
  readyTimeoutMs?: number;
  /** Forward the child's stderr to ours; default true. */
  inheritStderr?: boolean;
}

/** One stdout line of the simulator. */
export interface SimEvent {
  event: 'ready' | 'vend' | 'dispense-start' | 'port-open' | 'port-closed' | 'fault' | 'error' | string;
  [key: string]: unknown;
}

export interface SlotBoardProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** The boot epoch the board reported in its "ready" line. */
  readonly bootEpoch: number;
  /** Every event line received so far, in order. */
  readonly events: SimEvent[];
  /** Sends a fault command on the simulator's stdin. */
  fault(f: SimFault): void;
  /**
   * Resolves with the first event matching `match` (an event name or a
   * predicate). Only events after the call count unless `includePast`.
   */
  waitForEvent(
    match: string | ((e: SimEvent) => boolean),
    opts?: { timeoutMs?: number; includePast?: boolean },
  ): Promise<SimEvent>;
  /** The vend log as records (empty without logPath). */
  readLog(): VendRecord[];
  /** SIGTERM, then SIGKILL after 3 s; resolves when the process is gone. */
  stop(): Promise<void>;
}

export async function spawnSlotBoard(opts: SpawnSlotBoardOptions): Promise<SlotBoardProcess> {
  const args = ['--port', opts.port, '--exit-on-stdin-close'];
  if (opts.logPath) args.push('--log', opts.logPath);
  if (opts.config) args.push('--config', JSON.stringify(opts.config));
  if (opts.statePath) args.push('--state', opts.statePath);
  if (opts.bootEpoch !== undefined) args.push('--boot-epoch', String(opts.bootEpoch));
  if (opts.motorMs !== undefined) args.push('--motor-ms', String(opts.motorMs));
  if (opts.pollMs !== undefined) args.push('--poll-ms', String(opts.pollMs));
  if (opts.baudRate !== undefined) args.push('--baud', String(opts.baudRate));
  const sim = spawnSimProcess<SimEvent>({
    name: 'slot-board sim',
    main: MAIN,
    args,
    inheritStderr: opts.inheritStderr,
  });

  const ready = await waitForReady(sim, 'slot-board sim', opts.readyTimeoutMs ?? 30_000);
  const proc: SlotBoardProcess = {
    pid: sim.child.pid!,
    child: sim.child,
    bootEpoch: Number(ready.bootEpoch),
    events: sim.events,
    fault: (f) => sim.writeLine(f),
    waitForEvent: sim.waitForEvent,
    readLog: () => readJsonLines<VendRecord>(opts.logPath),
    stop: sim.stop,
  };

  return proc;
}
