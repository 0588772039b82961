/**
 * The real thing: the simulated machine + MDB adapter as its own process on
 * one end of a socat pty pair, the driver with node-serialport on the other,
 * buttons pressed from this process through the simulator's control socket
 * and its stdin.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MdbCashlessDriver } from '../../devices/vending/mdb/driver.ts';
import type {
  CashlessSessionCancelled,
  CashlessVendRequest,
  CashlessVendResult,
} from '../../devices/vending/mdb/port.ts';
import { waitUntil } from '../../testing/wait.ts';
import { createPtyPair, type PtyPair } from '../pty.ts';
import { sendSelect } from './main.ts';
import { type MdbSimProcess, spawnMdbSim } from './spawn.ts';

/** Resolves once the sim reported ENABLED after its latest port-open (the driver configured it again). */
async function readerEnabledSinceReopen(sim: MdbSimProcess, limitMs = 10_000): Promise<void> {
  await waitUntil(
    () => {
      const lastOpen = sim.events.findLastIndex((e) => e.event === 'port-open');
      const lastStatus = sim.events.findLastIndex((e) => e.event === 'status');
      return lastOpen >= 0 && lastStatus > lastOpen && sim.events[lastStatus]!.state === 'ENABLED';
    },
    { timeoutMs: limitMs, what: 'the reader ENABLED again after the port reopened' },
  );
}

describe('MDB simulator process on a socat pty pair', { timeout: 60_000 }, () => {
  let dir: string;
  let pty: PtyPair;
  let sim: MdbSimProcess;
  let driver: MdbCashlessDriver;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vendgate-mdb-'));
    pty = await createPtyPair(dir);
    sim = await spawnMdbSim({
      port: pty.devicePath,
      logPath: join(dir, 'sessions.jsonl'),
      control: join(dir, 'mdb.sock'),
      // The machine gives up after 1.5 s, well before the driver's own deadline (10 s - 1 s).
      config: {
        items: [
          { item: 1, price: 150 },
          { item: 3, price: 350 },
        ],
        vendMs: 300,
        vmcTimeoutMs: 1500,
      },
    });
    driver = new MdbCashlessDriver({
      machineId: 'pty-mdb',
      url: pty.hostPath,
      currency: 'CNY',
      scaleFactor: 1,
      decimalPlaces: 2,
      maxResponseTimeSec: 10,
      silenceTimeoutMs: 1500,
      keepaliveMs: 300,
      reconnectInitialMs: 50,
      reconnectMaxMs: 400,
    });
    const online = once(driver, 'online');
    await driver.start();
    await online;
    await sim.waitForEvent((e) => e.event === 'status' && e.state === 'ENABLED', { includePast: true });
  }, 40_000);

  afterAll(async () => {
    await driver?.stop();
    await sim?.stop();
    await pty?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('takes a button press from another process, approves it and reports the product dispensed', async () => {
    const requested = once(driver, 'vend-request') as Promise<[CashlessVendRequest]>;
    expect(sim.control).toBe(join(dir, 'mdb.sock'));
    expect(await sendSelect(sim.control!, 3)).toEqual({ ok: true, accepted: true });
    const [req] = await requested;
    expect(req).toMatchObject({ item: 3, price: { amount: 350, currency: 'CNY' } });
    expect(req.deadline).toBeGreaterThan(Date.now());
    const result = once(driver, 'vend-result') as Promise<[CashlessVendResult]>;
    await driver.approve(req.sessionId, 350);
    expect(await sim.waitForEvent('approved', { includePast: true })).toMatchObject({
      item: 3,
      amount: '350',
    });
    const [res] = await result;
    expect(res).toMatchObject({ sessionId: req.sessionId, ok: true, item: 3 });
    await sim.waitForEvent('vend-success', { includePast: true });
  });

  it('reports a session the machine cancelled because nobody approved it in time', async () => {
    const requested = once(driver, 'vend-request') as Promise<[CashlessVendRequest]>;
    const cancelled = once(driver, 'session-cancelled') as Promise<[CashlessSessionCancelled]>;
    sim.select(1); // on stdin this time
    const [req] = await requested;
    const [ev] = await cancelled;
    expect(ev).toMatchObject({ sessionId: req.sessionId, reason: 'machine-cancelled', item: 1 });
    expect(await sim.waitForEvent('cancelled', { includePast: true })).toMatchObject({
      item: 1,
      reason: 'timeout',
    });
  });

  it('comes back online and configures the adapter again after the pty vanished and reappeared', async () => {
    const offline = once(driver, 'offline');
    await pty.restart({ downMs: 300 });
    await offline;
    if (!driver.online) await once(driver, 'online');
    await readerEnabledSinceReopen(sim);
    const requested = once(driver, 'vend-request') as Promise<[CashlessVendRequest]>;
    expect(await sim.sendControl({ select: 1 })).toEqual({ ok: true, accepted: true });
    const [req] = await requested;
    const result = once(driver, 'vend-result') as Promise<[CashlessVendResult]>;
    await driver.approve(req.sessionId, 150);
    expect((await result)[0]).toMatchObject({ ok: true, item: 1 });
  });

  it('keeps a session log with one line per finished session', () => {
    const log = sim.readLog();
    expect(log.map((r) => [r.item, r.outcome, r.reason ?? null])).toEqual([
      [3, 'vend-success', null],
      [1, 'cancelled', 'timeout'],
      [1, 'vend-success', null],
    ]);
    for (const r of log) expect(Number.isNaN(Date.parse(r.at))).toBe(false);
  });
});
