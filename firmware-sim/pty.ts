/**
 * Pseudo-terminal pairs made by socat, so a serial driver and a simulated
 * device can talk through real ttys with node-serialport on both ends.
 *
 *   socat -d -d pty,raw,echo=0,link=<dir>/a pty,raw,echo=0,link=<dir>/b
 *
 * `restart()` kills socat and starts it again with the same link names:
 * both ends see their tty vanish and a new one appear at the same path,
 * like a USB serial adapter being unplugged and plugged back in.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface PtyPair {
  /** The link the gateway / driver opens. */
  hostPath: string;
  /** The link the simulated device opens. */
  devicePath: string;
  /** socat's pid (changes on restart). */
  readonly pid: number | undefined;
  close(): Promise<void>;
  /** Kills socat and starts it again with the same link names (unplug + replug). */
  restart(opts?: { downMs?: number }): Promise<void>;
}

export interface PtyPairOptions {
  /** Link names inside `dir`, default `a` (host) and `b` (device). */
  hostName?: string;
  deviceName?: string;
  /** How long to wait for socat to create both links, default 5000 ms. */
  readyTimeoutMs?: number;
  /** socat binary, default found on PATH. */
  socat?: string;
}

/** Finds socat on PATH (or /usr/bin, /usr/local/bin), or throws with install advice. */
export function findSocat(): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin', '/bin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = join(d, 'socat');
    if (existsSync(p)) return p;
  }
  throw new Error(
    'socat not found: serial tests and the simulated site need it to make pty pairs. Install it with `apt-get install socat` (Debian/Ubuntu) or `brew install socat` (macOS).',
  );
}

function removeLink(p: string): void {
  try {
    if (lstatSync(p).isSymbolicLink()) unlinkSync(p);
  } catch {
    // not there
  }
}

/** socat processes still running, killed if this process exits without closing them. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(c: ChildProcess): void {
  live.add(c);
  c.once('exit', () => live.delete(c));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const child of live) child.kill('SIGTERM');
    });
  }
}

export async function createPtyPair(dir: string, opts: PtyPairOptions = {}): Promise<PtyPair> {
  const socat = opts.socat ?? findSocat();
  const hostPath = join(dir, opts.hostName ?? 'a');
  const devicePath = join(dir, opts.deviceName ?? 'b');
  const readyTimeoutMs = opts.readyTimeoutMs ?? 5000;
  let child: ChildProcess | null = null;
  let stderr = '';

  const startSocat = async (): Promise<void> => {
    removeLink(hostPath);
    removeLink(devicePath);
    stderr = '';
    const c = spawn(
      socat,
      ['-d', '-d', `pty,raw,echo=0,link=${hostPath}`, `pty,raw,echo=0,link=${devicePath}`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = c;
    track(c);
    c.stderr?.setEncoding('utf8');
    c.stderr?.on('data', (s: string) => {
      stderr = (stderr + s).slice(-4000);
    });
    let spawnError: Error | null = null;
    c.once('error', (err) => {
      spawnError = err;
    });
    const until = Date.now() + readyTimeoutMs;
    while (!(existsSync(hostPath) && existsSync(devicePath))) {
      if (spawnError) {
        const e = spawnError as NodeJS.ErrnoException;
        throw new Error(
          e.code === 'ENOENT'
            ? `socat not found at ${socat}: install it with \`apt-get install socat\``
            : `could not start socat: ${e.message}`,
        );
      }
      if (c.exitCode !== null) throw new Error(`socat exited with code ${c.exitCode}: ${stderr.trim()}`);
      if (Date.now() > until) {
        c.kill('SIGKILL');
        throw new Error(
          `socat did not create ${hostPath} and ${devicePath} within ${readyTimeoutMs} ms: ${stderr.trim()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    // "starting data transfer loop" means both ptys are open and bridged.
    while (!stderr.includes('starting data transfer loop') && Date.now() < until && c.exitCode === null) {
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  const stopSocat = async (): Promise<void> => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
    removeLink(hostPath);
    removeLink(devicePath);
  };

  await startSocat();

  return {
    hostPath,
    devicePath,
    get pid() {
      return (child as ChildProcess | null)?.pid;
    },
    close: stopSocat,
    async restart({ downMs = 0 } = {}) {
      await stopSocat();
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await startSocat();
    },
  };
}
