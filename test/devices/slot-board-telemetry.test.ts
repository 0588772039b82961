import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import type { MachineSensors } from '../../devices/vending/port.ts';
import { Command, FrameDecoder } from '../../devices/vending/slot-board/codec.ts';
import { SlotBoardDriver, type SlotBoardDriverOptions } from '../../devices/vending/slot-board/driver.ts';
import { SlotBoardSim, type SlotBoardSimOptions } from '../../firmware-sim/slot-board/sim.ts';
import {
  cleanupsAfterEach,
  createMemoryTransportPair,
  expectVendgateError,
  waitUntil,
} from '../../testing/index.ts';

const cleanups = cleanupsAfterEach();

async function rig(simOpts: SlotBoardSimOptions = {}, driverOpts: Partial<SlotBoardDriverOptions> = {}) {
  const { host, device } = createMemoryTransportPair();
  const sim = new SlotBoardSim(device, {
    motorMs: 0,
    pollMs: 20,
    ackTimeoutMs: 20,
    rebootMs: 50,
    ...simOpts,
  });
  const driver = new SlotBoardDriver({
    machineId: 'm1',
    url: host.url,
    transportFactory: () => host,
    ackTimeoutMs: 20,
    silenceTimeoutMs: 300,
    reconnectInitialMs: 10,
    reconnectMaxMs: 50,
    ...driverOpts,
  });
  const readings: MachineSensors[] = [];
  driver.on('sensors', (r) => readings.push(r));
  cleanups.push(() => sim.stop());
  cleanups.push(() => driver.stop());
  await sim.start();
  const online = once(driver, 'online');
  await driver.start();
  await online;
  return { driver, sim, host, device, readings };
}

describe('slot board telemetry (VSB protocol 3)', () => {
  it('learns the door and temperature when it comes online and hears every change the board reports', async () => {
    const { driver, sim, readings } = await rig({ sensors: { doorOpen: false, temperatureDeciC: 45 } });
    await waitUntil(() => readings.length === 1, { what: 'the first sensors reading' });
    expect(driver.sensors).toEqual({ doorOpen: false, temperatureDeciC: 45 });
    sim.applyFault({ fault: 'door', open: true });
    await waitUntil(() => readings.length === 2, { what: 'door open reported' });
    sim.applyFault({ fault: 'temperature', deciC: -35 });
    await waitUntil(() => readings.length === 3, { what: 'temperature reported' });
    expect(readings).toEqual([
      { doorOpen: false, temperatureDeciC: 45 },
      { doorOpen: true, temperatureDeciC: 45 },
      { doorOpen: true, temperatureDeciC: -35 },
    ]);
  });

  it('reports only the sensors a board has', async () => {
    const { driver, readings } = await rig({ sensors: { doorOpen: null, temperatureDeciC: 80 } });
    await waitUntil(() => readings.length === 1, { what: 'the first sensors reading' });
    expect(driver.sensors).toEqual({ temperatureDeciC: 80 });
  });

  it('reads the levels the board senses, which fall with each vend, and leaves out slots it cannot sense', async () => {
    const { driver } = await rig({
      slots: [
        { slot: 1, stock: 5 },
        { slot: 2, stock: 3, sensed: false },
        { slot: 3, stock: 0 },
      ],
    });
    expect(await driver.readStock()).toEqual([
      { slot: 1, level: 5 },
      { slot: 3, level: 0 },
    ]);
    await driver.dispense({ vendToken: 7, slot: 1 });
    expect(await driver.readStock()).toEqual([
      { slot: 1, level: 4 },
      { slot: 3, level: 0 },
    ]);
  });

  it('reads the stock of a board with more slots than one STOCK frame holds, page by page', async () => {
    const slots = Array.from({ length: 70 }, (_, i) => ({ slot: i + 1, stock: i % 11 }));
    const { driver } = await rig({ slots });
    expect(await driver.readStock()).toEqual(slots.map((s) => ({ slot: s.slot, level: s.stock })));
  });

  it('resets the board: it comes back online with a new boot epoch and vends again', async () => {
    const { driver, sim } = await rig();
    const before = driver.bootEpoch!;
    expect(before).toBe(sim.bootEpoch);
    const restarted = once(driver, 'restarted');
    await driver.reset();
    expect(await restarted).toEqual([before, sim.bootEpoch]);
    expect(driver.bootEpoch).toBe(sim.bootEpoch);
    expect(driver.bootEpoch).not.toBe(before);
    expect(driver.online).toBe(true);
    expect(await driver.dispense({ vendToken: 9, slot: 2 })).toEqual({
      kind: 'dispensed',
      vendToken: 9,
      slot: 2,
    });
  });

  it('resolves a reset whose reboot outlasts the silence timeout once the board is online again', async () => {
    const { driver, sim } = await rig({ rebootMs: 600 });
    const before = driver.bootEpoch;
    const offline = once(driver, 'offline');
    await driver.reset();
    await offline;
    expect(driver.online).toBe(true);
    expect(driver.bootEpoch).toBe(sim.bootEpoch);
    expect(driver.bootEpoch).not.toBe(before);
  });

  it('never resets a board twice for one RESET resent after the board already restarted', async () => {
    const { driver, sim, device, readings } = await rig();
    // Everything else acknowledged first, so the one ACK lost below is the RESET's.
    await driver.info();
    await waitUntil(() => readings.length === 1, { what: 'the first sensors reading' });
    const resendsBefore = driver.stats.resends;
    let resets = 0;
    sim.on('reset', () => resets++);
    // Lose the board's ACK of the RESET: the driver resends the same frame to the new boot.
    let dropped = false;
    const prev = device.filter;
    device.filter = (chunk) => {
      const input = prev ? prev(chunk) : chunk;
      if (!input || dropped) return input;
      for (const f of new FrameDecoder().push(input)) {
        if (f.command === Command.Ack && f.seq !== 0) {
          dropped = true;
          return null;
        }
      }
      return input;
    };
    await driver.reset();
    await waitUntil(() => resets >= 1, { what: 'the board restarted' });
    // Give the resends their time: they name the old boot, which the new one ignores.
    await new Promise((r) => setTimeout(r, 200));
    expect(dropped).toBe(true);
    expect(driver.stats.resends).toBeGreaterThan(resendsBefore);
    expect(resets).toBe(1);
  });

  it('refuses sensed stock and reset on a protocol 2 board, which still vends and reports no sensors', async () => {
    const { driver, readings } = await rig({ protocolVersion: 2 });
    await expectVendgateError(driver.readStock(), ErrorCode.TelemetryUnsupported);
    await expectVendgateError(driver.reset(), ErrorCode.TelemetryUnsupported);
    expect(await driver.dispense({ vendToken: 3, slot: 1 })).toEqual({
      kind: 'dispensed',
      vendToken: 3,
      slot: 1,
    });
    expect(readings).toEqual([]);
    expect(driver.sensors).toBeUndefined();
  });

  it('times out a reset when the board acknowledges it but never comes back', async () => {
    const { driver, sim } = await rig({ rebootMs: 5_000 }, { resetTimeoutMs: 300 });
    await expectVendgateError(driver.reset(), ErrorCode.TelemetryResetTimeout);
    await sim.stop();
  });
});
