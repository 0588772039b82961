/**
 * Runs a simulator entry (a firmware-sim main.ts) as a child process under
 * tsx and follows its stdout, one JSON event per line: the plumbing the
 * slot-board and MDB spawn helpers share (event collection, waitForEvent,
 * the "ready" handshake, stop, reading a JSONL log).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** One stdout line of a simulator. */
export interface SimEventLine {
  event: string;
  [key: string]: unknown;
}

export interface WaitForEventOptions {
  timeoutMs?: number;
  includePast?: boolean;
}

export interface SimChildProcess<E extends SimEventLine> {
  readonly child: ChildProcess;
  /** Every event line received so far, in order. */
  readonly events: E[];
  /** Writes one JSON line on the simulator's stdin. */
  writeLine(value: unknown): void;
  /**
   * Resolves with the first event matching `match` (an event name or a
   * predicate). Only events after the call count unless `includePast`.
   */
  waitForEvent(match: string | ((e: E) => boolean), opts?: WaitForEventOptions): Promise<E>;
  /** SIGTERM, then SIGKILL after 3 s; resolves when the process is gone. */
  stop(): Promise<void>;
}

export interface SpawnSimProcessOptions {
  /** Names the simulator in error messages ("mdb sim", "slot-board sim"). */
  name: string;
  /** The entry module to run with tsx. */
  main: string;
  /** Arguments after the entry module. */
  args: string[];
  /** Forward the child's stderr to ours; default true. */
  inheritStderr?: boolean;
}

export function spawnSimProcess<E extends SimEventLine>(opts: SpawnSimProcessOptions): SimChildProcess<E> {
  const { name } = opts;
  const child = spawn(process.execPath, ['--import', 'tsx', opts.main, ...opts.args], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', opts.inheritStderr === false ? 'ignore' : 'inherit'],
  });
  const events: E[] = [];
  const listeners = new Set<(e: E) => void>();
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
      let e: E;
      try {
        e = JSON.parse(line) as E;
      } catch {
        e = { event: 'stdout', line } as unknown as E;
      }
      events.push(e);
      for (const l of [...listeners]) l(e);
    }
  });
  child.stdin!.on('error', () => {});

  const waitForEvent: SimChildProcess<E>['waitForEvent'] = (
    match,
    { timeoutMs = 10_000, includePast = false } = {},
  ) => {
    const pred = typeof match === 'string' ? (e: E) => e.event === match : match;
    if (includePast) {
      const found = events.find(pred);
      if (found) return Promise.resolve(found);
    }
    return new Promise<E>((res, rej) => {
      const timer = setTimeout(() => {
        listeners.delete(l);
        child.off('exit', onExit);
        rej(
          new Error(
            `${name}: no matching event within ${timeoutMs} ms; last: ${JSON.stringify(events.slice(-5))}`,
          ),
        );
      }, timeoutMs);
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        listeners.delete(l);
        rej(new Error(`${name} exited (code ${code}) before a matching event`));
      };
      const l = (e: E) => {
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

  return {
    child,
    events,
    writeLine(value) {
      child.stdin!.write(`${JSON.stringify(value)}\n`);
    },
    waitForEvent,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * Waits for the simulator's "ready" line (or its "error" line) and resolves
 * with it; on an error line, a timeout or an early exit, stops the process
 * and throws.
 */
export async function waitForReady<E extends SimEventLine>(
  sim: SimChildProcess<E>,
  name: string,
  timeoutMs: number,
): Promise<E> {
  try {
    const ready = await sim.waitForEvent((e) => e.event === 'ready' || e.event === 'error', {
      timeoutMs,
      includePast: true,
    });
    if (ready.event === 'error') throw new Error(`${name} failed to start: ${String(ready.message)}`);
    return ready;
  } catch (err) {
    await sim.stop();
    throw err;
  }
}

/** A JSONL file as records (empty when there is no path or no file yet). */
export function readJsonLines<T>(path: string | undefined): T[] {
  if (!path || !existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}
