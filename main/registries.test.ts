/**
 * The vending driver registry, the config schema built from it, the
 * simulator registry and `vendgate sim` name the same drivers.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../core/errors.ts';
import { VENDING_DRIVERS } from '../devices/vending/registry.ts';
import { VENDING_SIMULATORS } from '../firmware-sim/registry.ts';
import { parseConfig } from '../gateway/config/load.ts';
import { expectVendgateError } from '../testing/errors.ts';
import { runSim, simCommands } from './sim-command.ts';

const driverNames = VENDING_DRIVERS.map((d) => d.name);

describe('the driver registries and the tools built on them', () => {
  it('give every vending driver a simulator, and every simulator a driver', () => {
    expect(Object.keys(VENDING_SIMULATORS).sort()).toEqual([...driverNames].sort());
  });

  it('give every driver a machine schema the config accepts, with its own defaults', () => {
    for (const d of VENDING_DRIVERS) {
      const config = parseConfig({
        machines: [{ id: 'x1', driver: d.name, port: '/dev/null', slots: [{ slot: 1 }] }],
      });
      expect(config.machines[0]!.driver).toBe(d.name);
      for (const field of Object.keys(d.fields)) expect(config.machines[0]).toHaveProperty(field);
    }
  });

  it('offer a `vendgate sim` command for every simulator, each reaching its real entry point', async () => {
    const commands = simCommands();
    for (const sim of Object.values(VENDING_SIMULATORS)) {
      expect(commands).toContain(sim.command);
      // Without --port the simulator's own argument parser answers with its usage and exit code 2.
      expect(await runSim([sim.command])).toBe(2);
    }
    expect(await runSim(['no-such-device'])).toBe(2);
  });

  it('refuse a machine naming a driver that is not registered, listing the registered ones', async () => {
    const err = await expectVendgateError(
      () => parseConfig({ machines: [{ id: 'x1', driver: 'vmc-9000', port: '/dev/null' }] }),
      ErrorCode.ConfigInvalid,
    );
    expect(err.message).toContain('machines.0.driver');
    expect(err.message).toContain(`expected one of ${driverNames.join(', ')}`);
    expect(err.message).toContain('"vmc-9000"');
  });
});
