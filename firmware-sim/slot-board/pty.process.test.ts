/**
 * The real thing: the simulated board as its own process on one end of a
 * socat pty pair, the driver with node-serialport on the other.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { SlotBoardDriver } from '../../devices/vending/slot-board/driver.ts';
import { expectVendgateError } from '../../testing/errors.ts';
import { createPtyPair, type PtyPair } from '../pty.ts';
import { type SlotBoardProcess, spawnSlotBoard } from './spawn.ts';

describe('slot board simulator process on a socat pty pair', { timeout: 60_000 }, () => {
  let dir: string;
  let pty: PtyPair;
  let sim: SlotBoardProcess;
  let driver: SlotBoardDriver;
  const outcomes = new Map<number, string>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vendgate-vsb-'));
    pty = await createPtyPair(dir);
    sim = await spawnSlotBoard({
      port: pty.devicePath,
      logPath: join(dir, 'vends.jsonl'),
      config: { motorMs: 400, slots: [1, 2, 3, 4].map((slot) => ({ slot, stock: 5, price: 150 })) },
    });
    driver = new SlotBoardDriver({
      machineId: 'pty-1',
      url: pty.hostPath,
      silenceTimeoutMs: 800,
      reconnectInitialMs: 50,
      reconnectMaxMs: 400,
    });
    const online = once(driver, 'online');
    await driver.start();
    await online;
  }, 30_000);

  afterAll(async () => {
    await driver?.stop();
    await sim?.stop();
    await pty?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('dispenses over the real serial port and logs the outcome on the board', async () => {
    const outcome = await driver.dispense({ vendToken: 0x10001, slot: 1 });
    expect(outcome).toEqual({ kind: 'dispensed', vendToken: 0x10001, slot: 1 });
    outcomes.set(0x10001, 'dispensed');
    expect(await driver.info()).toMatchObject({ protocolVersion: 3, slotCount: 4, bootEpoch: sim.bootEpoch });
    expect(driver.bootEpoch).toBe(sim.bootEpoch);
  });

  it('reports a jam injected on the simulator stdin as a failed vend', async () => {
    sim.fault({ fault: 'jam', slot: 2, count: 1 });
    await sim.waitForEvent('fault', { includePast: true });
    const outcome = await driver.dispense({ vendToken: 0x10002, slot: 2 });
    expect(outcome).toMatchObject({ kind: 'failed', reason: 'jammed', slot: 2 });
    outcomes.set(0x10002, 'jammed');
  });

  it('goes offline when the board falls silent and comes back online after it talks again', async () => {
    const offline = once(driver, 'offline');
    sim.fault({ fault: 'silent', ms: 1500 });
    const [reason] = await offline;
    expect(reason).toMatch(/silence/);
    await once(driver, 'online');
    const outcome = await driver.dispense({ vendToken: 0x10003, slot: 3 });
    expect(outcome.kind).toBe('dispensed');
    outcomes.set(0x10003, 'dispensed');
  });

  it('survives the pty vanishing and reappearing mid-vend, resolving the vend by query', async () => {
    const started = sim.waitForEvent((e) => e.event === 'dispense-start' && e.vendToken === 0x10004);
    const vend = driver.dispense({ vendToken: 0x10004, slot: 4 });
    // The motor runs 400 ms and the pty vanishes right after it started: the driver cannot know the outcome.
    const failed = expectVendgateError(vend, ErrorCode.DeviceOffline);
    await started;
    const offline = once(driver, 'offline');
    await pty.restart({ downMs: 300 });
    await offline;
    await failed;
    if (!driver.online) await once(driver, 'online');
    await sim.waitForEvent((e) => e.event === 'vend' && e.vendToken === 0x10004, { includePast: true });
    expect(await driver.queryVend(0x10004)).toEqual({ kind: 'dispensed', vendToken: 0x10004, slot: 4 });
    // Resending after the reconnect is safe: the board re-reports and does not dispense again.
    expect(await driver.dispense({ vendToken: 0x10004, slot: 4 })).toMatchObject({ kind: 'dispensed' });
    outcomes.set(0x10004, 'dispensed');
  });

  it('comes back after the board closes its own port for a while (unplug fault)', async () => {
    const offline = once(driver, 'offline');
    sim.fault({ fault: 'unplug', ms: 1000 });
    await offline;
    await once(driver, 'online');
    const outcome = await driver.dispense({ vendToken: 0x10005, slot: 1 });
    expect(outcome.kind).toBe('dispensed');
    outcomes.set(0x10005, 'dispensed');
  });

  it('keeps a vend log that matches what the driver reported, one line per token', () => {
    const log = sim.readLog();
    expect(log.map((r) => [r.vendToken, r.outcome])).toEqual([...outcomes.entries()]);
    for (const r of log) expect(Number.isNaN(Date.parse(r.at))).toBe(false);
  });
});
