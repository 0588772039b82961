/**
 * Runs the simulated MDB machine (main.ts) as a child process, for tests and
 * the demo: waits for its "ready" line, collects its stdout events, presses
 * buttons and injects faults on its stdin (or its control socket), and reads
 * its session log.
 */
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readJsonLines, spawnSimProcess, waitForReady } from '../sim-process.ts';
import { type ControlAddress, type MdbSimConfig, sendSimCommand } from './main.ts';
import type { MdbSessionRecord, MdbSimCommand, MdbSimFault } from './sim.ts';

const here = dirname(fileURLToPath(import.meta.url));
const MAIN = join(here, 'main.ts');

export interface SpawnMdbSimOptions {
  /** The serial port the simulator opens (the device end of a pty pair). */
  port: string;
  /** JSONL session log; every finished session is appended as an MdbSessionRecord. */
  logPath?: string;
  /** Also listen for JSON commands on this unix socket path or 127.0.0.1 TCP port (0 = any free port). */
  control?: ControlAddress;
  config?: MdbSimConfig;
  baudRate?: number;
  /** Wait this long for the "ready" line, default 30 s (tsx compiles on start). */
  readyTimeoutMs?: number;
  /** Forward the child's stderr to ours; default true. */
  inheritStderr?: boolean;
}

/** One stdout line of the simulator. */
export interface MdbSimEvent {
  event: string;
  [key: string]: unknown;
}

export interface MdbSimProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Every event line received so far, in order. */
  readonly events: MdbSimEvent[];
  /** The control listener's address (when `control` was given): for sendSimCommand / sendSelect. */
  readonly control: ControlAddress | undefined;
  /** Sends a command on the simulator's stdin. */
  command(c: MdbSimCommand): void;
  /** Presses the button for `item` (on stdin). */
  select(item: number): void;
  /** Sends a fault on stdin. */
  fault(f: MdbSimFault): void;
  /** Sends a command on the control socket (needs `control`) and resolves with the reply. */
  sendControl(c: MdbSimCommand): Promise<Record<string, unknown>>;
  waitForEvent(
    match: string | ((e: MdbSimEvent) => boolean),
    opts?: { timeoutMs?: number; includePast?: boolean },
  ): Promise<MdbSimEvent>;
  /** The session log as records (empty without logPath). */
  readLog(): MdbSessionRecord[];
  /** SIGTERM, then SIGKILL after 3 s; resolves when the process is gone. */
  stop(): Promise<void>;
}

export async function spawnMdbSim(opts: SpawnMdbSimOptions): Promise<MdbSimProcess> {
  const args = ['--port', opts.port, '--exit-on-stdin-close'];
  if (opts.logPath) args.push('--log', opts.logPath);
  if (opts.control !== undefined) args.push('--control', String(opts.control));
  if (opts.config) args.push('--config', JSON.stringify(opts.config));
  if (opts.baudRate !== undefined) args.push('--baud', String(opts.baudRate));
  const sim = spawnSimProcess<MdbSimEvent>({
    name: 'mdb sim',
    main: MAIN,
    args,
    inheritStderr: opts.inheritStderr,
  });

  let controlAddr: ControlAddress | undefined;
  const write = (c: MdbSimCommand) => sim.writeLine(c);
  const proc: MdbSimProcess = {
    pid: sim.child.pid!,
    child: sim.child,
    events: sim.events,
    get control() {
      return controlAddr;
    },
    command: write,
    select: (item) => write({ cmd: 'select', item }),
    fault: (f) => write(f),
    sendControl(c) {
      if (controlAddr === undefined)
        return Promise.reject(new Error('mdb sim started without a control listener'));
      return sendSimCommand(controlAddr, c);
    },
    waitForEvent: sim.waitForEvent,
    readLog: () => readJsonLines<MdbSessionRecord>(opts.logPath),
    stop: sim.stop,
  };

  const ready = await waitForReady(sim, 'mdb sim', opts.readyTimeoutMs ?? 30_000);
  const c = ready.control;
  controlAddr = typeof c === 'number' || typeof c === 'string' ? c : undefined;
  return proc;
}
