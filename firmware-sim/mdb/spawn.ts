/**
 * Runs the simulated MDB machine (main.ts) as a child process, for tests and
 * the demo: waits for its "ready" line, collects its stdout events, presses
 * buttons and injects faults on its stdin (or its control socket), and reads
 * its session log.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ControlAddress, type MdbSimConfig, sendSimCommand } from './main.ts';
import type { MdbSessionRecord, MdbSimCommand, MdbSimFault } from './sim.ts';

const here = dirname(fileURLToPath(import.meta.url));
const MAIN = join(here, 'main.ts');
const REPO_ROOT = resolve(here, '..', '..');

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
  const args = ['--import', 'tsx', MAIN, '--port', opts.port, '--exit-on-stdin-close'];
  if (opts.logPath) args.push('--log', opts.logPath);
  if (opts.control !== undefined) args.push('--control', String(opts.control));
  if (opts.config) args.push('--config', JSON.stringify(opts.config));
  if (opts.baudRate !== undefined) args.push('--baud', String(opts.baudRate));
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', opts.inheritStderr === false ? 'ignore' : 'inherit'],
  });
  const events: MdbSimEvent[] = [];
  const listeners = new Set<(e: MdbSimEvent) => void>();
  let buf = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (s: string) => {
    buf += s;
    let i = buf.indexOf('\n');
    while (i >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      i = buf.indexOf('\n');
      if (!line) continue;
      let e: MdbSimEvent;
      try {
        e = JSON.parse(line) as MdbSimEvent;
      } catch {
        e = { event: 'stdout', line };
      }
      events.push(e);
      for (const l of [...listeners]) l(e);
    }
  });
  child.stdin!.on('error', () => {});

  const waitForEvent: MdbSimProcess['waitForEvent'] = (
    match,
    { timeoutMs = 10_000, includePast = false } = {},
  ) => {
    const pred = typeof match === 'string' ? (e: MdbSimEvent) => e.event === match : match;
    if (includePast) {
      const found = events.find(pred);
      if (found) return Promise.resolve(found);
    }
    return new Promise<MdbSimEvent>((res, rej) => {
      const timer = setTimeout(() => {
        listeners.delete(l);
        child.off('exit', onExit);
        rej(
          new Error(
            `mdb sim: no matching event within ${timeoutMs} ms; last: ${JSON.stringify(events.slice(-5))}`,
          ),
        );
      }, timeoutMs);
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        listeners.delete(l);
        rej(new Error(`mdb sim exited (code ${code}) before a matching event`));
      };
      const l = (e: MdbSimEvent) => {
        if (!pred(e)) return;
        clearTimeout(timer);
        listeners.delete(l);
        child.off('exit', onExit);
        res(e);
      };
      listeners.add(l);
      child.once('exit', onExit);
    });
  };

  let controlAddr: ControlAddress | undefined;
  const write = (c: MdbSimCommand) => child.stdin!.write(`${JSON.stringify(c)}\n`);
  const proc: MdbSimProcess = {
    pid: child.pid!,
    child,
    events,
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
    waitForEvent,
    readLog() {
      if (!opts.logPath || !existsSync(opts.logPath)) return [];
      return readFileSync(opts.logPath, 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as MdbSessionRecord);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };

  try {
    const ready = await waitForEvent((e) => e.event === 'ready' || e.event === 'error', {
      timeoutMs: opts.readyTimeoutMs ?? 30_000,
      includePast: true,
    });
    if (ready.event === 'error') throw new Error(`mdb sim failed to start: ${String(ready.message)}`);
    const c = ready.control;
    controlAddr = typeof c === 'number' || typeof c === 'string' ? c : undefined;
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return proc;
}
