import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../core/log.ts';
import { createVendingDevice, VENDING_DRIVERS } from '../devices/vending/registry.ts';
import { parseConfig } from '../gateway/config/load.ts';
import { cleanupsAfterEach } from '../testing/cleanups.ts';
import { tempDir } from '../testing/tmp.ts';
import { waitUntil } from '../testing/wait.ts';
import { simulatorForCommand, VENDING_SIMULATORS } from './registry.ts';

const cleanups = cleanupsAfterEach();

describe('the simulator registry', () => {
  it('finds a vending simulator by its `vendgate sim` command, and nothing for other commands', () => {
    expect(simulatorForCommand('slot-board')).toBe(VENDING_SIMULATORS['slot-board']);
    expect(simulatorForCommand('mdb')).toBe(VENDING_SIMULATORS.mdb);
    expect(simulatorForCommand('display')).toBeUndefined();
    expect(simulatorForCommand(undefined)).toBeUndefined();
  });

  it('spawns each simulator on a pty in its directory, where the driver of the same name reaches it', async () => {
    for (const driver of VENDING_DRIVERS) {
      const tmp = tempDir(`vendgate-sim-${driver.name}-`);
      cleanups.push(tmp.cleanup);
      const spawned = await VENDING_SIMULATORS[driver.name].spawnOnPty({
        dir: tmp.dir,
        items: [{ slot: 1, price: 300 }],
        vendMs: 10,
      });
      cleanups.push(() => spawned.pty.close());
      cleanups.push(() => spawned.sim.stop());
      expect(dirname(spawned.pty.hostPath)).toBe(tmp.dir);
      expect(dirname(spawned.logPath)).toBe(tmp.dir);
      // The machine as the config schema gives it to the driver, with that driver's defaults.
      const [machine] = parseConfig({
        machines: [
          { id: `sim-${driver.name}`, driver: driver.name, port: spawned.pty.hostPath, slots: [{ slot: 1 }] },
        ],
      }).machines;
      const { device } = createVendingDevice(VENDING_DRIVERS, machine!, { log: silentLogger() });
      cleanups.push(() => device.stop());
      await device.start();
      await waitUntil(() => device.online, { timeoutMs: 15_000, what: `${driver.name} online` });
    }
  });
});
