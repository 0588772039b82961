/**
 * Runs the simulated DEX port (main.ts) as its own process on the device
 * end of a fresh socat pty pair, for tests and the demo: the gateway opens
 * `pty.hostPath`. Sends faults and new audit files on its stdin and waits
 * for its events.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPtyPair, type PtyPair } from '../pty.ts';
import { type SimEventLine, spawnSimProcess, waitForReady } from '../sim-process.ts';
import type { DexSimFault } from './sim.ts';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), 'main.ts');

export interface SpawnDexSimOptions {
  /** Working directory for the pty links. */
  dir: string;
  /** The audit file it sends. */
  audit: string;
  communicationId?: string;
  blockBytes?: number;
  /** Wait this long for the "ready" line, default 30 s (tsx compiles on start). */
  readyTimeoutMs?: number;
}

export interface DexSimProcess {
  readonly pty: PtyPair;
  readonly pid: number;
  readonly events: SimEventLine[];
  fault(f: DexSimFault): void;
  /** Sends another audit file from the next read on; resolves when the simulator has loaded it. */
  setAudit(path: string): Promise<void>;
  waitForEvent(
    match: string | ((e: SimEventLine) => boolean),
    opts?: { timeoutMs?: number; includePast?: boolean },
  ): Promise<SimEventLine>;
  /** Stops the process, then the pty pair. */
  stop(): Promise<void>;
}

export async function spawnDexSim(opts: SpawnDexSimOptions): Promise<DexSimProcess> {
  const pty = await createPtyPair(opts.dir, { hostName: 'gateway-dex', deviceName: 'dex' });
  const args = ['--port', pty.devicePath, '--audit', opts.audit, '--exit-on-stdin-close'];
  if (opts.communicationId) args.push('--comm-id', opts.communicationId);
  if (opts.blockBytes !== undefined) args.push('--block-bytes', String(opts.blockBytes));
  const sim = spawnSimProcess<SimEventLine>({ name: 'dex sim', main: MAIN, args });
  try {
    await waitForReady(sim, 'dex sim', opts.readyTimeoutMs ?? 30_000);
  } catch (err) {
    await pty.close().catch(() => {});
    throw err;
  }
  return {
    pty,
    pid: sim.child.pid!,
    events: sim.events,
    fault: (f) => sim.writeLine(f),
    async setAudit(path) {
      const loaded = sim.waitForEvent((e) => e.event === 'audit' && e.audit === path);
      sim.writeLine({ audit: path });
      await loaded;
    },
    waitForEvent: sim.waitForEvent,
    async stop() {
      await sim.stop();
      await pty.close();
    },
  };
}
