/**
 * Runs the simulated slot board (main.ts) as a child process, for tests and
 * the demo: waits for its "ready" line, collects its stdout events, sends
 * faults on its stdin and reads its vend log.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SlotBoardSimConfig } from './main.ts';
import type { SimFault, VendRecord } from './sim.ts';

const here = dirname(fileURLToPath(import.meta.url));
const MAIN = join(here, 'main.ts');
const REPO_ROOT = resolve(here, '..', '..');

export interface SpawnSlotBoardOptions {
  /** The serial port the board opens (the device end of a pty pair). */
  port: string;
  /** JSONL vend log; every final outcome is appended as {vendToken, slot, outcome, at}. */
  logPath?: string;
  config?: SlotBoardSimConfig;
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
  const args = ['--import', 'tsx', MAIN, '--port', opts.port, '--exit-on-stdin-close'];
  if (opts.logPath) args.push('--log', opts.logPath);
  if (opts.config) args.push('--config', JSON.stringify(opts.config));
  if (opts.motorMs !== undefined) args.push('--motor-ms', String(opts.motorMs));
  if (opts.pollMs !== undefined) args.push('--poll-ms', String(opts.pollMs));
  if (opts.baudRate !== undefined) args.push('--baud', String(opts.baudRate));
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', opts.inheritStderr === false ? 'ignore' : 'inherit'],
  });
  const events: SimEvent[] = [];
  const listeners = new Set<(e: SimEvent) => void>();
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
      let e: SimEvent;
      try {
        e = JSON.parse(line) as SimEvent;
      } catch {
        e = { event: 'stdout', line };
      }
      events.push(e);
      for (const l of [...listeners]) l(e);
    }
  });
  child.stdin!.on('error', () => {});

  const waitForEvent: SlotBoardProcess['waitForEvent'] = (
    match,
    { timeoutMs = 10_000, includePast = false } = {},
  ) => {
    const pred = typeof match === 'string' ? (e: SimEvent) => e.event === match : match;
    if (includePast) {
      const found = events.find(pred);
      if (found) return Promise.resolve(found);
    }
    return new Promise<SimEvent>((res, rej) => {
      const timer = setTimeout(() => {
        listeners.delete(l);
        child.off('exit', onExit);
        rej(
          new Error(
            `slot-board sim: no matching event within ${timeoutMs} ms; last: ${JSON.stringify(events.slice(-5))}`,
          ),
        );
      }, timeoutMs);
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        listeners.delete(l);
        rej(new Error(`slot-board sim exited (code ${code}) before a matching event`));
      };
      const l = (e: SimEvent) => {
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

  const proc: SlotBoardProcess = {
    pid: child.pid!,
    child,
    events,
    fault(f) {
      child.stdin!.write(`${JSON.stringify(f)}\n`);
    },
    waitForEvent,
    readLog() {
      if (!opts.logPath || !existsSync(opts.logPath)) return [];
      return readFileSync(opts.logPath, 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as VendRecord);
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
    if (ready.event === 'error') throw new Error(`slot-board sim failed to start: ${String(ready.message)}`);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return proc;
}
