import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  chownSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { SimPlatform } from '../firmware-sim/platform/platform.ts';
import type { ConfigInput } from '../gateway/config/schema.ts';
import { freePort } from '../testing/ports.ts';
import { waitUntil } from '../testing/wait.ts';
import { finalAtPlatform, useRig } from './support/rig.ts';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '../bin/vendgate.js');
// The gateway's signing key goes along: the same gateway, whose key lives beside its store.
const STORE_FILES = ['vendgate.db', 'vendgate.db-wal', 'vendgate.db.highwater', 'gateway-key.json'];

/**
 * Damaged copies of a real store: the gateway runs as its own process with a
 * slot board on a pty, takes orders, and is killed with SIGKILL (so the WAL
 * still holds the last commits). Each test copies that store, damages the
 * copy the way a field failure would, and starts the gateway CLI on it.
 */
describe('a gateway started on a damaged store', () => {
  const h = useRig({ gateway: 'process', slotBoards: 1 });
  let golden = '';
  let goldenSeq = 0;
  /** Event id by seq, as the platform stored them before the damage. */
  let goldenIds = new Map<number, string>();
  let goldenVends = 0;

  async function makeGolden(): Promise<void> {
    if (golden) return;
    const orders = Array.from({ length: 12 }, (_, i) => h.order('m1', 1 + (i % 6)));
    for (const o of orders) await h.platform.placeOrder(o);
    await waitUntil(() => orders.every((o) => finalAtPlatform(h.platform, o.orderId)), {
      timeoutMs: 30_000,
      what: 'orders settled',
    });
    // The high-water file is written at least every second; let it catch up, then cut the power.
    await sleep(1500);
    h.gatewayProcess.kill('SIGKILL');
    await once(h.gatewayProcess.child!, 'exit');
    golden = join(h.dir, 'golden');
    mkdirSync(golden);
    for (const f of STORE_FILES) copyFileSync(join(h.dir, f), join(golden, f));
    goldenSeq = Math.max(...h.platform.events.map((e) => e.seq));
    goldenIds = new Map(h.platform.events.map((e) => [e.seq, e.id]));
    goldenVends = h.boards[0]!.readLog().length;
    expect(statSync(join(golden, 'vendgate.db-wal')).size).toBeGreaterThan(32 * 1024);
  }

  /** A copy of the golden store in its own data dir, with a config that serves /health. */
  async function copyStore(name: string): Promise<{ dir: string; configPath: string; httpPort: number }> {
    await makeGolden();
    const dir = join(h.dir, name);
    mkdirSync(dir);
    for (const f of STORE_FILES) copyFileSync(join(golden, f), join(dir, f));
    const httpPort = await freePort();
    const config: ConfigInput = {
      ...h.config,
      dataDir: dir,
      http: { enabled: true, host: '127.0.0.1', port: httpPort },
    };
    const configPath = join(dir, 'vendgate.yaml');
    writeFileSync(configPath, stringify(config));
    return { dir, configPath, httpPort };
  }

  async function expectSafeMode(configPath: string, httpPort: number, fault: string) {
    const platform = new SimPlatform({
      brokerUrl: h.brokerUrl,
      gatewayId: h.gatewayId,
      privateKey: h.keys.privateKey,
      adoptFirstSeq: true,
    });
    await platform.connect();
    const gw = startCli(configPath);
    try {
      // A status retained by an earlier test's process may come first: wait for this one's.
      // A gateway process under tsx on a loaded 2-core box takes tens of seconds to start.
      await waitUntil(() => platform.lastStatus?.safeMode?.fault === fault, {
        timeoutMs: 60_000,
        what: `the safe-mode status (${fault}) on MQTT`,
      });
      expect(platform.lastStatus).toMatchObject({ state: 'offline', safeMode: { fault } });
      expect(platform.lastStatus?.safeMode?.action).toContain('vendgate store accept');
      const res = await fetch(`http://127.0.0.1:${httpPort}/health`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { status: string; code: number; safeMode: { fault: string } };
      expect(body).toMatchObject({ status: 'safe-mode', code: 2008, safeMode: { fault } });
      // An order arriving now is neither dispensed nor answered with an event.
      const before = h.boards[0]!.readLog().length;
      await platform.placeOrder(h.order('m1', 2));
      await sleep(1500);
      expect(platform.events).toEqual([]);
      expect(h.boards[0]!.readLog()).toHaveLength(before);
      const safeLine = gw
        .stdout()
        .split('\n')
        .find((l) => l.includes('SAFE MODE'));
      expect(safeLine, 'one log line saying what happened and what to do').toContain('store accept');
      return body;
    } finally {
      await gw.stop();
      await platform.close();
    }
  }

  it('refuses a store whose WAL was damaged after a SIGKILL: safe mode, and after `store accept` no seq or vend token is used again', async () => {
    const { dir, configPath, httpPort } = await copyStore('wal');
    const wal = join(dir, 'vendgate.db-wal');
    const size = statSync(wal).size;
    // 8 KB of garbage in the middle: SQLite's recovery keeps only the frames before it.
    const fd = openSync(wal, 'r+');
    writeSync(fd, Buffer.alloc(8192, 0xa5), 0, 8192, Math.floor(size / 2 / 4096) * 4096 + 32);
    closeSync(fd);

    const body = await expectSafeMode(configPath, httpPort, 'went-backwards');
    expect(body.safeMode).toBeDefined();

    const accepted = runCli(['store', 'accept', '--config', configPath]);
    expect(accepted.status, accepted.stderr).toBe(0);
    expect(accepted.stdout).toMatch(/accepted the store .* \(went-backwards\)/);

    // Running again: new orders are dispensed, and their events and vend tokens are all new.
    const platform = new SimPlatform({
      brokerUrl: h.brokerUrl,
      gatewayId: h.gatewayId,
      privateKey: h.keys.privateKey,
      adoptFirstSeq: true,
    });
    await platform.connect();
    const gw = startCli(configPath);
    try {
      await waitUntil(() => platform.lastStatus?.state === 'online', { timeoutMs: 30_000, what: 'online' });
      const order = h.order('m1', 3);
      await platform.placeOrder(order);
      await waitUntil(() => finalAtPlatform(platform, order.orderId), {
        timeoutMs: 20_000,
        what: 'dispensed',
      });
      // A seq the platform already holds comes back only as the same event (a resend), never a new one.
      for (const e of platform.events) {
        if (e.seq <= goldenSeq) expect(e.id, `seq ${e.seq}`).toBe(goldenIds.get(e.seq));
      }
      const orderEvents = platform.events.filter(
        (e) => (e.data as { orderId?: string }).orderId === order.orderId,
      );
      expect(orderEvents.length).toBeGreaterThan(0);
      for (const e of orderEvents) expect(e.seq).toBeGreaterThan(goldenSeq);
      const skipped = platform.events.filter((e) => e.type === 'outbox.dropped');
      expect(skipped.length).toBeGreaterThan(0);
      for (const e of skipped) expect((e.data as { cause: string }).cause).toBe('store-accepted');
      expect(platform.seqGaps()).toEqual([]);
      // The new vends used tokens the board had never seen: it dispensed them.
      const log = h.boards[0]!.readLog();
      const before = new Set(log.slice(0, goldenVends).map((r) => r.vendToken));
      const after = log.slice(goldenVends);
      expect(after.length).toBeGreaterThan(0);
      for (const r of after) {
        expect(before.has(r.vendToken), `token ${r.vendToken} reused`).toBe(false);
        expect(r.outcome).toBe('dispensed');
      }
    } finally {
      await gw.stop();
      await platform.close();
    }
  }, 120_000);

  it('does not start a store truncated to 0 bytes as a new store: safe mode says it vanished', async () => {
    const { dir, configPath, httpPort } = await copyStore('truncated');
    truncateSync(join(dir, 'vendgate.db'), 0);
    truncateSync(join(dir, 'vendgate.db-wal'), 0);
    const body = await expectSafeMode(configPath, httpPort, 'vanished');
    expect(JSON.stringify(body)).toContain('0 bytes');
  }, 90_000);

  it('refuses a store whose pages fail PRAGMA quick_check: safe mode says it is damaged', async () => {
    const { dir, configPath, httpPort } = await copyStore('pages');
    const path = join(dir, 'vendgate.db');
    // Fold the WAL into the file, then scribble over the cells of an orders page (not the header page).
    const db = new Database(path);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const page = (
      db.prepare("SELECT rootpage FROM sqlite_schema WHERE name = 'orders'").get() as {
        rootpage: number;
      }
    ).rootpage;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.close();
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(pageSize - 200, 0x5a), 0, pageSize - 200, (page - 1) * pageSize + 100);
    closeSync(fd);
    await expectSafeMode(configPath, httpPort, 'damaged');
  }, 90_000);

  it('stops with one line naming the file when the header bytes are flipped, without a stack trace', async () => {
    const { dir, configPath } = await copyStore('header');
    const path = join(dir, 'vendgate.db');
    // As after a clean stop: the WAL folded into the file (else SQLite reads page 1 from the WAL).
    const db = new Database(path);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const bytes = readFileSync(path);
    for (let i = 0; i < 16; i++) bytes[i] = bytes[i]! ^ 0xff;
    writeFileSync(path, bytes);
    const r = runCli(['start', '--config', configPath]);
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('error 2006 (StoreNotADatabase)');
    expect(lines[0]).toContain(path);
    expect(lines[0]).toContain('restore it from a backup');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);

  it('stops with one line naming the file when the store is read-only (chmod 0444), without a stack trace', async () => {
    const { dir, configPath } = await copyStore('readonly');
    const path = join(dir, 'vendgate.db');
    // root writes through 0444; run the gateway as an ordinary user, as it is deployed.
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      chmodSync(dir, 0o755);
      for (const f of [dir, configPath, ...STORE_FILES.map((f) => join(dir, f))])
        if (existsSync(f)) chownSync(f, 65534, 65534);
      chmodSync(h.dir, 0o755);
    }
    chmodSync(path, 0o444);
    const r = runCli(['start', '--config', configPath], asRoot ? 65534 : undefined);
    expect(r.status, r.stderr).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('error 2007 (StoreReadOnly)');
    expect(lines[0]).toContain(path);
    expect(lines[0]).toContain('writable');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);
});

function runCli(args: string[], uid?: number) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: 45_000,
    ...(uid !== undefined ? { uid, gid: uid, env: { ...process.env, HOME: '/tmp' } } : {}),
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function startCli(configPath: string): { child: ChildProcess; stdout(): string; stop(): Promise<void> } {
  const child = spawn(process.execPath, [CLI, 'start', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  return {
    child,
    stdout: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
