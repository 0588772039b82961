/**
 * The vending driver registry: one table naming every controller family the
 * gateway can drive, with what the rest of the system needs to know about
 * it: the machine config fields it adds (zod, merged into the config schema
 * by gateway/config), its default line speed, its role (a remote-vend
 * machine dispenses on command; a cashless reader is the machine's payment
 * device for select-then-pay) and how to create its driver.
 *
 * Adding a protocol is one driver module plus one entry in `VENDING_DRIVERS`;
 * nothing else compares driver names.
 */
import { z } from 'zod';
import type { Log } from '../../core/log.ts';
import { CurrencyCode } from '../../core/money.ts';
import { MdbCashlessDriver } from './mdb/driver.ts';
import { CURRENCIES as MDB_CURRENCIES, type MdbCurrency } from './mdb/money.ts';
import type { CashlessReader } from './mdb/port.ts';
import type { VendingMachine } from './port.ts';
import { SlotBoardDriver } from './slot-board/driver.ts';
import type { TransportFactory } from './transport.ts';

/** What a driver is to the gateway: which flow its machine takes part in. */
export type VendingRole = 'remote-vend' | 'cashless';

/** The domain port each role's drivers implement. */
export interface VendingDevices {
  'remote-vend': VendingMachine;
  cashless: CashlessReader;
}

/** The machine config fields every driver gets, whatever its family. */
export type MachineWiring = {
  id: string;
  /** Serial device path or tcp://host:port. */
  port: string;
  /** Unset: the driver's `defaultBaudRate`. */
  baudRate?: number | undefined;
  currency: string;
};

export interface DriverDeps {
  /** Seam for tests: how a port URL becomes a byte transport (default serialport / node:net). */
  transportFactory?: TransportFactory | undefined;
  /** Root logger; drivers log under their own namespace. */
  log: Log;
}

export interface VendingDriver<
  Name extends string = string,
  Fields extends z.ZodRawShape = z.ZodRawShape,
  Role extends VendingRole = VendingRole,
> {
  /** The machine config's `driver` value. */
  readonly name: Name;
  readonly role: Role;
  readonly defaultBaudRate: number;
  /** One sentence for the config documentation: what the driver talks to and where its protocol is specified. */
  readonly summary: string;
  /**
   * The machine config fields this driver adds (or narrows, e.g. `currency`),
   * each with its default. Unknown fields are refused, so a machine carries
   * only its own driver's settings.
   */
  readonly fields: Fields;
  create(machine: MachineWiring & z.output<z.ZodObject<Fields>>, deps: DriverDeps): VendingDevices[Role];
}

/** Any registry entry (for lists). */
export type AnyVendingDriver = VendingDriver<string, z.ZodRawShape, VendingRole>;

/** A registry: a non-empty list of drivers, the first being the default when a machine names none. */
export type VendingDriverList = readonly [AnyVendingDriver, ...AnyVendingDriver[]];

/** Keeps the literal name and field types of an entry while checking it against the interface. */
export function defineVendingDriver<
  const Name extends string,
  Fields extends z.ZodRawShape,
  Role extends VendingRole,
>(driver: VendingDriver<Name, Fields, Role>): VendingDriver<Name, Fields, Role> {
  return driver;
}

const SLOT_BOARD_BAUD = 9600;
const MDB_BAUD = 115200;

export const slotBoardDriver = defineVendingDriver({
  name: 'slot-board',
  role: 'remote-vend',
  defaultBaudRate: SLOT_BOARD_BAUD,
  summary: 'a spiral/slot controller that dispenses on command (remote vend, docs/protocols/slot-board.md)',
  fields: {
    silenceTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(1500)
      .describe('No poll for this long = offline; reopen.'),
  },
  create: (m, deps) =>
    new SlotBoardDriver({
      machineId: m.id,
      url: m.port,
      transportFactory: deps.transportFactory,
      transportOptions: { baudRate: m.baudRate ?? SLOT_BOARD_BAUD },
      silenceTimeoutMs: m.silenceTimeoutMs,
      log: deps.log,
    }),
});

const mdbCurrencies = Object.keys(MDB_CURRENCIES) as [MdbCurrency, ...MdbCurrency[]];

export const mdbDriver = defineVendingDriver({
  name: 'mdb',
  role: 'cashless',
  defaultBaudRate: MDB_BAUD,
  summary:
    'the gateway is the cashless device behind an MDB adapter (select-then-pay, docs/protocols/mdb-adapter.md)',
  fields: {
    // The reader announces its currency to the machine (section 6), so only
    // currencies with a known ISO 4217 numeric code can be configured.
    currency: CurrencyCode.pipe(
      z.enum(mdbCurrencies, { error: `an mdb reader supports ${mdbCurrencies.join(', ')}` }),
    ).default('CNY'),
    mdb: z
      .object({
        scaleFactor: z.number().int().min(1).max(255).default(1),
        decimalPlaces: z.number().int().min(0).max(6).default(2),
        maxResponseTimeSec: z
          .number()
          .int()
          .min(5)
          .max(255)
          .default(90)
          .describe("The reader's application maximum response time: the customer must pay within it."),
      })
      .strict()
      .default({ scaleFactor: 1, decimalPlaces: 2, maxResponseTimeSec: 90 }),
    cashlessMode: z
      .enum(['select-then-pay', 'pay-first'])
      .default('select-then-pay')
      .describe(
        'select-then-pay: the customer chooses on the machine, then scans and pays. pay-first: the customer scans and pays a credit, then chooses on the machine (authorization first, docs/protocols/mdb-adapter.md section 7.5).',
      ),
    creditIdleSec: z
      .number()
      .int()
      .min(5)
      .max(600)
      .default(90)
      .describe('pay-first: how long a paid credit waits for a selection before it is refunded, seconds.'),
  },
  create: (m, deps) =>
    new MdbCashlessDriver({
      machineId: m.id,
      url: m.port,
      transportFactory: deps.transportFactory,
      transportOptions: { baudRate: m.baudRate ?? MDB_BAUD },
      currency: m.currency,
      scaleFactor: m.mdb.scaleFactor,
      decimalPlaces: m.mdb.decimalPlaces,
      maxResponseTimeSec: m.mdb.maxResponseTimeSec,
      sessionOrder: m.cashlessMode === 'pay-first' ? 'authorization-first' : 'select-first',
      log: deps.log,
    }),
});

/** The built-in drivers. The first is the default for a machine that names none. */
export const VENDING_DRIVERS = [slotBoardDriver, mdbDriver] as const satisfies VendingDriverList;

export type BuiltInDrivers = typeof VENDING_DRIVERS;
export type VendingDriverName = BuiltInDrivers[number]['name'];

/** A created driver with its role, so callers can put it where it belongs without comparing names. */
export type CreatedDevice =
  | { role: 'remote-vend'; device: VendingMachine }
  | { role: 'cashless'; device: CashlessReader };

/** The registry entry for `name`; throws naming the known drivers when there is none. */
export function vendingDriver(drivers: readonly AnyVendingDriver[], name: string): AnyVendingDriver {
  const d = drivers.find((x) => x.name === name);
  if (!d)
    throw new TypeError(`unknown vending driver "${name}"; known: ${drivers.map((x) => x.name).join(', ')}`);
  return d;
}

/**
 * Creates the driver a machine config names. The config must have been
 * parsed by the schema built from the same registry (its fields and defaults
 * are then the driver's).
 */
export function createVendingDevice(
  drivers: readonly AnyVendingDriver[],
  machine: MachineWiring & { driver: string; [field: string]: unknown },
  deps: DriverDeps,
): CreatedDevice {
  const d = vendingDriver(drivers, machine.driver);
  const device = d.create(machine, deps);
  // An entry's role says which port its create() returns (VendingDriver<Name, Fields, Role>).
  return d.role === 'cashless'
    ? { role: 'cashless', device: device as CashlessReader }
    : { role: 'remote-vend', device: device as VendingMachine };
}
