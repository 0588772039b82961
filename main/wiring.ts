/**
 * What the composition root derives from the config to hand to the parts:
 * the catalogue seeds, the broker accounts of display devices, the idle screens,
 * the cashless machines. Pure functions of the config and the driver
 * registry; nothing here starts anything.
 */
import type { BrokerUser } from '../contract/broker-user.ts';
import { displayBrokerUser } from '../devices/display/mqtt-display.ts';
import type { DisplayScreen, Locale } from '../devices/display/port.ts';
import type { CashlessReader } from '../devices/vending/mdb/port.ts';
import type { VendingMachine } from '../devices/vending/port.ts';
import {
  type AnyVendingDriver,
  createVendingDevice,
  type DriverDeps,
  vendingDriver,
} from '../devices/vending/registry.ts';
import type { CashlessMachine } from '../gateway/cashless/flow.ts';
import type { PayFirstMachine } from '../gateway/cashless/pay-first.ts';
import type { MachineSeed } from '../gateway/catalogue/planogram.ts';
import type { AnyConfig, AnyMachineConfig } from '../gateway/config/schema.ts';

/**
 * The catalogue seed of each machine from the config: slot, product, price,
 * capacity and low-stock mark. What the platform changes later wins over it
 * (gateway/catalogue).
 */
export function catalogueSeeds(config: AnyConfig, drivers: readonly AnyVendingDriver[]): MachineSeed[] {
  return config.machines.map((m) => ({
    machineId: m.id,
    currency: m.currency,
    anySlot: vendingDriver(drivers, m.driver).role === 'cashless',
    slots: m.slots.map((s) => ({
      slot: s.slot,
      product: s.name,
      price: s.price,
      capacity: s.capacity,
      lowStockAt: s.lowStockAt,
    })),
  }));
}

/** The broker account of each MQTT display device (it may read only its render topic). */
export function displayUsers(config: AnyConfig): BrokerUser[] {
  return config.machines.flatMap((m) =>
    m.display.mqtt
      ? [
          displayBrokerUser({
            gatewayId: config.gatewayId,
            displayId: m.id,
            password: m.display.mqtt.password,
          }),
        ]
      : [],
  );
}

export function displayLocales(config: AnyConfig): Record<string, Locale> {
  return Object.fromEntries(config.machines.map((m) => [m.id, m.display.locale]));
}

/** An MDB machine's session order (select-then-pay unless configured pay-first). */
export function cashlessModeOf(m: AnyConfig['machines'][number]): 'select-then-pay' | 'pay-first' {
  return 'cashlessMode' in m && m.cashlessMode === 'pay-first' ? 'pay-first' : 'select-then-pay';
}

/** The machines whose display shows a static remote-vend QR when nothing else is on it. */
export function idleScreens(config: AnyConfig): Map<string, DisplayScreen> {
  return new Map(
    config.machines.flatMap((m) =>
      m.display.staticQrUrl
        ? [
            [
              m.id,
              {
                kind: 'idle' as const,
                machineName: m.display.name ?? m.id,
                staticQrUrl: m.display.staticQrUrl,
                ...(m.driver === 'mdb' ? { cashless: cashlessModeOf(m) } : {}),
              },
            ] as const,
          ]
        : [],
    ),
  );
}

export interface Devices {
  /** Remote-vend machines by id. */
  machines: Map<string, VendingMachine>;
  /** Cashless readers by id. */
  readers: Map<string, CashlessReader>;
}

/**
 * Creates the driver of every machine through the registry and sorts them
 * by role. `remoteVendOverride` (the machineFactory seam) replaces the
 * driver of remote-vend machines when it returns one.
 */
export function createDevices(
  config: AnyConfig,
  drivers: readonly AnyVendingDriver[],
  deps: DriverDeps,
  remoteVendOverride?: (machine: AnyMachineConfig) => VendingMachine | undefined,
): Devices {
  const machines = new Map<string, VendingMachine>();
  const readers = new Map<string, CashlessReader>();
  for (const m of config.machines) {
    const override =
      vendingDriver(drivers, m.driver).role === 'remote-vend' ? remoteVendOverride?.(m) : undefined;
    if (override) {
      machines.set(m.id, override);
      continue;
    }
    const created = createVendingDevice(drivers, m, deps);
    if (created.role === 'cashless') readers.set(m.id, created.device);
    else machines.set(m.id, created.device);
  }
  return { machines, readers };
}

/** The cashless flow's view of each reader: its display, item names and idle screen. */
export function cashlessMachines(
  config: AnyConfig,
  readers: ReadonlyMap<string, CashlessReader>,
  idle: ReadonlyMap<string, DisplayScreen>,
): Map<string, CashlessMachine> {
  const out = new Map<string, CashlessMachine>();
  for (const m of config.machines) {
    const reader = readers.get(m.id);
    if (!reader || cashlessModeOf(m) === 'pay-first') continue;
    const screen = idle.get(m.id);
    out.set(m.id, {
      reader,
      displayId: m.id,
      itemNames: new Map(m.slots.flatMap((s) => (s.name ? [[s.slot, s.name] as const] : []))),
      ...(screen ? { idle: screen } : {}),
    });
  }
  return out;
}

/** The pay-first flow's view of each pay-first MDB reader (the others belong to the select-then-pay flow). */
export function payFirstMachines(
  config: AnyConfig,
  readers: ReadonlyMap<string, CashlessReader>,
  idle: ReadonlyMap<string, DisplayScreen>,
): Map<string, PayFirstMachine> {
  const out = new Map<string, PayFirstMachine>();
  for (const m of config.machines) {
    const reader = readers.get(m.id);
    if (!reader || cashlessModeOf(m) !== 'pay-first') continue;
    const screen = idle.get(m.id);
    const idleSec = 'creditIdleSec' in m && typeof m.creditIdleSec === 'number' ? m.creditIdleSec : 90;
    out.set(m.id, {
      reader,
      displayId: m.id,
      currency: m.currency,
      idleMs: idleSec * 1000,
      itemNames: new Map(m.slots.flatMap((s) => (s.name ? [[s.slot, s.name] as const] : []))),
      ...(screen ? { idle: screen } : {}),
    });
  }
  return out;
}
