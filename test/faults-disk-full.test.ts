import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  statfsSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ErrorCode } from '../core/errors.ts';
import type { ConfigInput } from '../gateway/config/schema.ts';
import { cleanupsAfterEach } from '../testing/cleanups.ts';
import { freePort } from '../testing/ports.ts';
import { tempDir } from '../testing/tmp.ts';
import { waitUntil } from '../testing/wait.ts';
import { finalAtPlatform, startRig } from './support/rig.ts';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '../bin/vendgate.js');
const isRoot = process.getuid?.() === 0;
if (!isRoot) {
  console.warn('test/faults-disk-full.test.ts skipped: mounting a 3 MB tmpfs needs root (mount -t tmpfs)');
}
const cleanups = cleanupsAfterEach();

/**
 * The data directory on a real 3 MB tmpfs, the gateway as its own process
 * and a slot board simulator on a pty. The disk is filled by a filler file,
 * as another process's logs would fill it, and emptied again ("the disk was
 * grown").
 */
describe.skipIf(!isRoot)('a gateway whose data directory fills up', () => {
  it('refuses new orders below the reserve, keeps a reported outcome until it is written, and starts and stays up while full', async () => {
    const tmp = tempDir('vendgate-disk-');
    const mnt = join(tmp.dir, 'data');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt]);
    cleanups.push(
      () => tmp.cleanup(),
      () => execFileSync('umount', [mnt]),
    );
    const filler = join(mnt, 'filler');
    const free = () => {
      const s = statfsSync(mnt);
      return s.bavail * s.bsize;
    };
    /** Grows the filler until only `leave` bytes are free (0: until ENOSPC). */
    const fill = (leave: number) => {
      const fd = openSync(filler, 'a');
      try {
        const chunk = Buffer.alloc(4096, 0x66);
        while (free() > leave) {
          try {
            writeSync(fd, chunk);
          } catch {
            break;
          }
        }
      } finally {
        closeSync(fd);
      }
    };

    const reserveBytes = 1024 * 1024;
    const rig = await startRig({ gateway: 'none', broker: 'aedes', slotBoards: 1, motorMs: 1500 });
    const platform = rig.platform;
    const httpPort = await freePort();
    const config: ConfigInput = {
      ...rig.config,
      dataDir: mnt,
      log: { level: 'info', pretty: false },
      store: { synchronous: 'normal', reserveBytes },
      http: { enabled: true, host: '127.0.0.1', port: httpPort },
    };
    const configPath = join(tmp.dir, 'vendgate.yaml');
    writeFileSync(configPath, stringify(config));
    const gw = gatewayCli(configPath);
    cleanups.push(() => gw.stop());
    gw.start();
    await waitUntil(() => platform.lastStatus?.state === 'online', { timeoutMs: 30_000, what: 'online' });

    // Taking orders with room to spare.
    const first = [rig.order('m1', 1), rig.order('m1', 2)];
    for (const o of first) await platform.placeOrder(o);
    await rig.settled(
      first.map((o) => o.orderId),
      30_000,
    );
    const rssAtStart = gw.rssBytes();

    // Below the reserve: a new order is deferred with an answer the platform can act on, and not dispensed.
    fill(reserveBytes / 2);
    await waitUntil(async () => (await fetch(`http://127.0.0.1:${httpPort}/health`)).status === 503, {
      timeoutMs: 10_000,
      what: '/health degraded below the reserve',
    });
    const refused = rig.order('m1', 3);
    const cmd = await platform.placeOrder(refused);
    await waitUntil(() => platform.events.some((e) => e.type === 'command.deferred'), {
      timeoutMs: 10_000,
      what: 'command.deferred',
    });
    const deferral = platform.events.find((e) => e.type === 'command.deferred')!;
    expect(deferral.data).toMatchObject({ commandId: cmd.id, code: ErrorCode.StoreLowOnSpace });
    expect((deferral.data as { reason: string }).reason).toMatch(/send the same command again later/);
    expect(
      platform.events.some(
        (e) => e.type === 'order.accepted' && (e.data as { orderId: string }).orderId === refused.orderId,
      ),
    ).toBe(false);

    // An order taken before the disk filled up: its outcome arrives with no byte free.
    unlinkSync(filler);
    await waitUntil(async () => (await fetch(`http://127.0.0.1:${httpPort}/health`)).status === 200, {
      timeoutMs: 10_000,
      what: '/health ok again',
    });
    const inFlight = rig.order('m1', 4);
    await platform.placeOrder(inFlight);
    await rig.boards[0]!.waitForEvent('dispense-start', { timeoutMs: 10_000 });
    // Kept full, as a runaway log would keep it: whatever the gateway frees (a WAL checkpoint) is taken again.
    fill(0);
    const hog = setInterval(() => fill(0), 20);
    cleanups.push(() => clearInterval(hog));
    await rig.boards[0]!.waitForEvent((e) => e.event === 'vend' && e.outcome === 'dispensed', {
      timeoutMs: 10_000,
    });
    const linesBefore = gw.lines().length;
    await waitUntil(() => gw.lines().some((l) => l.includes('could not record the vend outcome')), {
      timeoutMs: 10_000,
      what: 'the outcome write failing with SQLITE_FULL',
    });
    // Full for a while: the outcome stays in memory and the process up.
    await sleep(8000);
    expect(gw.alive()).toBe(true);

    // Restarting while full: it starts and stays up.
    await gw.stop();
    gw.start();
    await waitUntil(() => platform.statuses.filter((s) => s.state === 'online').length >= 2, {
      timeoutMs: 30_000,
      what: 'online again after the restart while full',
    });
    await sleep(3000);
    expect(gw.alive()).toBe(true);
    expect(free()).toBeLessThan(reserveBytes);

    // The disk is grown: the outcome is written (asked of the controller again after the restart) and reported.
    clearInterval(hog);
    unlinkSync(filler);
    await waitUntil(() => finalAtPlatform(platform, inFlight.orderId), {
      timeoutMs: 60_000,
      what: 'the outcome written once there is room',
    });
    expect(platform.vends.get(inFlight.orderId)).toBe(1);
    expect(rig.boards[0]!.readLog().filter((r) => r.outcome === 'dispensed')).toHaveLength(3);

    // Repeated lines are limited, nothing escaped as a stack trace, and memory stayed flat.
    for (let run = 0; run < gw.runs(); run++) {
      const lines = gw.lines(run).slice(run === 0 ? linesBefore : 0);
      const byMsg = new Map<string, number>();
      for (const l of lines) {
        const msg = (JSON.parse(l) as { msg?: string }).msg ?? '';
        byMsg.set(msg, (byMsg.get(msg) ?? 0) + 1);
      }
      // The first lines of a storm, then at most one summary per minute.
      for (const [msg, n] of byMsg) expect(n, msg).toBeLessThanOrEqual(6);
    }
    expect(gw.stderr()).not.toMatch(/\n\s+at /);
    expect(gw.rssBytes()).toBeLessThan(rssAtStart + 64 * 1024 * 1024);
    await gw.stop();
  }, 180_000);
});

function gatewayCli(configPath: string) {
  let child: ChildProcess | undefined;
  /** Each start's log lines apart: each process has its own repeated-line limit. */
  const runs: string[] = [];
  let err = '';
  return {
    start() {
      child = spawn(process.execPath, [CLI, 'start', '--config', configPath], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const run = runs.push('') - 1;
      child.stdout?.on('data', (d: Buffer) => {
        runs[run] += d.toString('utf8');
      });
      child.stderr?.on('data', (d: Buffer) => {
        err += d.toString('utf8');
      });
    },
    lines: (run = runs.length - 1) => (runs[run] ?? '').split('\n').filter((l) => l.startsWith('{')),
    runs: () => runs.length,
    stderr: () => err,
    alive: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    rssBytes(): number {
      const status = readFileSync(`/proc/${child?.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    },
    async stop() {
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      proc.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
