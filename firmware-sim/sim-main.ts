/**
 * Process-entry plumbing the simulator mains (slot-board, mdb) share: the
 * JSON event lines on stdout, `--config` loading, opening the serial
 * transport, serving JSON command lines on stdin until signalled, and
 * running a main when the module is the process entry.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { type ByteTransport, createTransport } from '../devices/vending/transport.ts';

/** Writes one event as a JSON line on stdout. */
export function printEvent(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

/** The `--config` argument: inline JSON (starting with `{`) or a file path; `{}` without one. */
export function loadJsonConfig<T>(arg: string | undefined): T {
  if (!arg) return {} as T;
  const text = arg.trimStart().startsWith('{') ? arg : readFileSync(arg, 'utf8');
  return JSON.parse(text) as T;
}

/** A (closed) transport for the simulator's end of the serial line. */
export function createSimTransport(port: string, baudRate: number): ByteTransport {
  const transport = createTransport(port, { baudRate });
  transport.on('error', () => {}); // the sim handles errors through its own listener; never crash on a dead pty
  return transport;
}

/** Starts the simulator on its port; when that fails, prints the "error" event and returns false. */
export async function startOnPort(sim: { start(): Promise<void> }, port: string): Promise<boolean> {
  try {
    await sim.start();
    return true;
  } catch (err) {
    printEvent({ event: 'error', message: `cannot open ${port}: ${(err as Error).message}` });
    return false;
  }
}

export interface ServeOptions {
  /** One non-blank stdin line; a throw is printed as an "error" event naming the line. */
  onLine: (line: string) => void;
  /** Cleanup before the process exits (stop the sim, close listeners). */
  onStop: () => Promise<void>;
  /** Also stop when stdin closes (the parent went away). */
  exitOnStdinClose?: boolean;
}

/**
 * Serves stdin lines until SIGTERM / SIGINT (or stdin closing, when asked),
 * then runs onStop and exits the process. The returned promise never
 * settles: the process ends through the exit.
 */
export function serveUntilStopped(opts: ServeOptions): Promise<number> {
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await opts.onStop();
    process.exit(code);
  };
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));

  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (!line.trim()) return;
    try {
      opts.onLine(line);
    } catch (err) {
      printEvent({ event: 'error', message: (err as Error).message, line });
    }
  });
  if (opts.exitOnStdinClose) rl.on('close', () => void stop(0));
  return new Promise<number>(() => {}); // runs until signalled
}

/** Runs `main` with the command-line arguments when `moduleUrl` is the process entry, and exits with its code. */
export function runIfEntry(moduleUrl: string, main: (args: string[]) => Promise<number>): void {
  if (process.argv[1] && moduleUrl === pathToFileURL(process.argv[1]).href) {
    main(process.argv.slice(2)).then(
      (code) => process.exit(code),
      (err: Error) => {
        process.stderr.write(`${err.stack ?? err.message}\n`);
        process.exit(1);
      },
    );
  }
}
