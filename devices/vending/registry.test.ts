import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { createMemoryTransportPair } from '../../testing/memory-transport.ts';
import { MdbCashlessDriver } from './mdb/driver.ts';
import {
  createVendingDevice,
  mdbDriver,
  slotBoardDriver,
  VENDING_DRIVERS,
  vendingDriver,
} from './registry.ts';
import { SlotBoardDriver } from './slot-board/driver.ts';
import type { TransportFactory, TransportOptions } from './transport.ts';

/** A transport factory that records the options each driver opened its port with. */
function recordingFactory(): {
  factory: TransportFactory;
  opened: Array<[string, TransportOptions | undefined]>;
} {
  const opened: Array<[string, TransportOptions | undefined]> = [];
  return {
    opened,
    factory: (url, opts) => {
      opened.push([url, opts]);
      return createMemoryTransportPair(url).host;
    },
  };
}

const common = { port: 'mem://x', currency: 'CNY' };

describe('the vending driver registry', () => {
  it('lists slot-board first, so a machine that names no driver is a slot-board', () => {
    expect(VENDING_DRIVERS.map((d) => [d.name, d.role])).toEqual([
      ['slot-board', 'remote-vend'],
      ['mdb', 'cashless'],
    ]);
  });

  it('creates the driver of each entry, sorted by role, opening the port at its default speed', async () => {
    const { factory, opened } = recordingFactory();
    const deps = { transportFactory: factory, log: silentLogger() };
    const board = createVendingDevice(
      VENDING_DRIVERS,
      { ...common, id: 'm1', driver: 'slot-board', silenceTimeoutMs: 1500 },
      deps,
    );
    const reader = createVendingDevice(
      VENDING_DRIVERS,
      {
        ...common,
        id: 'c1',
        driver: 'mdb',
        mdb: { scaleFactor: 1, decimalPlaces: 2, maxResponseTimeSec: 60 },
      },
      deps,
    );
    expect(board.role).toBe('remote-vend');
    expect(board.device).toBeInstanceOf(SlotBoardDriver);
    expect(reader.role).toBe('cashless');
    expect(reader.device).toBeInstanceOf(MdbCashlessDriver);
    await board.device.start();
    await reader.device.start();
    await board.device.stop();
    await reader.device.stop();
    expect(opened.map(([, o]) => o?.baudRate)).toEqual([
      slotBoardDriver.defaultBaudRate,
      mdbDriver.defaultBaudRate,
    ]);
  });

  it('opens the port at the configured speed when the machine names one', async () => {
    const { factory, opened } = recordingFactory();
    const { device } = createVendingDevice(
      VENDING_DRIVERS,
      { ...common, id: 'm1', driver: 'slot-board', baudRate: 38400, silenceTimeoutMs: 1500 },
      { transportFactory: factory, log: silentLogger() },
    );
    await device.start();
    await device.stop();
    expect(opened[0]![1]?.baudRate).toBe(38400);
  });

  it('names the registered drivers when asked for one it does not have', () => {
    expect(() => vendingDriver(VENDING_DRIVERS, 'vmc-9000')).toThrow(
      'unknown vending driver "vmc-9000"; known: slot-board, mdb',
    );
  });
});
