/**
 * The demo site runs a simulator for every vending driver, and the driver
 * the registry creates for each machine of its config talks to it: the
 * simulators, the config and the drivers agree on the wire.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { createVendingDevice, VENDING_DRIVERS } from '../../devices/vending/registry.ts';
import { parseConfig } from '../../gateway/config/load.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { freePort } from '../../testing/ports.ts';
import { tempDir } from '../../testing/tmp.ts';
import { waitUntil } from '../../testing/wait.ts';
import { startGateway } from '../gateway.ts';
import { DEMO_DEX_AUDIT, startSimSite } from './site.ts';

const cleanups = cleanupsAfterEach();

describe('the demo site', () => {
  it('has a machine of every registered driver, each going online with the driver the registry creates', async () => {
    const tmp = tempDir('vendgate-site-');
    cleanups.push(tmp.cleanup);
    const site = await startSimSite({
      dir: tmp.dir,
      machines: 1,
      cashlessMachines: 1,
      motorMs: 20,
      httpPort: 0,
    });
    cleanups.push(() => site.stop());
    const config = parseConfig(site.config, 'demo site');
    expect(new Set(config.machines.map((m) => m.driver))).toEqual(
      new Set(VENDING_DRIVERS.map((d) => d.name)),
    );
    for (const m of config.machines) {
      const { device } = createVendingDevice(VENDING_DRIVERS, m, { log: silentLogger() });
      cleanups.push(() => device.stop());
      await device.start();
      await waitUntil(() => device.online, { timeoutMs: 15_000, what: `${m.id} (${m.driver}) online` });
    }
  });

  it('fills its slots to their capacity, reads the DEX port beside m1, and runs a pay-first MDB machine', async () => {
    const tmp = tempDir('vendgate-site-');
    cleanups.push(tmp.cleanup);
    const site = await startSimSite({
      dir: tmp.dir,
      machines: 1,
      cashlessMachines: 1,
      payFirstMachines: 1,
      capacity: 12,
      lowStockAt: 3,
      dexEvery: 'off',
      motorMs: 20,
      httpPort: 0,
      brokerPort: await freePort(),
    });
    cleanups.push(() => site.stop());
    expect(DEMO_DEX_AUDIT).toMatch(/firmware-sim\/dex\/fixtures\/demo\.dex$/);
    const config = parseConfig(site.config, 'demo site');
    expect(config.machines.find((m) => m.id === 'p1')).toMatchObject({
      driver: 'mdb',
      cashlessMode: 'pay-first',
    });
    expect(config.machines.find((m) => m.id === 'c1')).not.toHaveProperty('cashlessMode', 'pay-first');
    const gw = await startGateway({ config, log: silentLogger() });
    cleanups.push(() => gw.stop());
    await waitUntil(() => [...gw.machines.values()].every((m) => m.online), {
      timeoutMs: 15_000,
      what: 'every machine online',
    });
    expect(gw.catalogue.slot('m1', 1)).toMatchObject({ capacity: 12, lowStockAt: 3 });
    // The protocol-3 board senses its slots: they start full.
    await waitUntil(() => gw.stock.level('m1', 1) === 12, { what: 'the sensed level of m1 slot 1' });

    const read = await gw.audit.readNow('m1', 'api');
    expect(read).toMatchObject({ machineId: 'm1', status: 'good', currency: 'CNY' });
    expect(site.dex?.machineId).toBe('m1');
  });
});
