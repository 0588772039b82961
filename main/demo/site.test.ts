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
import { tempDir } from '../../testing/tmp.ts';
import { waitUntil } from '../../testing/wait.ts';
import { startSimSite } from './site.ts';

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
});
