import { afterAll, beforeAll, onTestFinished } from 'vitest';
import { generateRawKeyPair, type RawKeyPair } from '../../contract/signing.ts';
import { silentLogger } from '../../core/log.ts';
import { MdbCashlessDriver, type MdbCashlessDriverOptions } from '../../devices/vending/mdb/driver.ts';
import { SlotBoardDriver, type SlotBoardDriverOptions } from '../../devices/vending/slot-board/driver.ts';
import type { ByteTransport, TransportFactory } from '../../devices/vending/transport.ts';
import type { MdbItem } from '../../firmware-sim/mdb/sim.ts';
import { type PaidOrder, SimPlatform } from '../../firmware-sim/platform/platform.ts';
import type { SlotBoardSimOptions } from '../../firmware-sim/slot-board/sim.ts';
import { type EmbeddedBroker, startEmbeddedBroker } from '../../gateway/broker/embedded.ts';
import { parseConfig } from '../../gateway/config/load.ts';
import type { ConfigInput } from '../../gateway/config/schema.ts';
import { type Gateway, startGateway } from '../../main/gateway.ts';
import type { Cleanup } from '../../testing/cleanups.ts';
import { tempDir } from '../../testing/tmp.ts';
import { waitUntil } from '../../testing/wait.ts';
import { type GatewayProcess, gatewayProcess } from './gateway-process.ts';
import { type MosquittoHandle, startMosquitto } from './mosquitto.ts';
import {
  type DeviceMode,
  type RigMdbMachine,
  type RigSlotBoard,
  startMdbMachine,
  startSlotBoard,
} from './sim-devices.ts';

export type { DeviceMode, RigMdbMachine, RigSlotBoard } from './sim-devices.ts';
export type BrokerKind = 'aedes' | 'mosquitto';
type MachineInput = NonNullable<ConfigInput['machines']>[number];
type MdbMachineInput = Extract<MachineInput, { driver: 'mdb' }>;

/**
 * How much of the gateway a test runs: `none` (devices, broker and platform
 * only), `drivers` (the device drivers on their transports, started and
 * online), `whole` (startGateway in this process) or `process` (the gateway
 * CLI as its own process, to be killed and restarted).
 */
export type GatewayLevel = 'none' | 'drivers' | 'whole' | 'process';

export interface RigMdbMachineOptions {
  /** The machine's items and MDB prices; default items 1-6 at 310, 320, ... */
  items?: MdbItem[];
  vendMs?: number;
  /** Overrides of the machine's gateway config entry (display, mdb timing, slots). */
  machine?: Partial<MdbMachineInput>;
}

export interface RigOptions {
  /** Slot-board machines m1..mN (remote vend). Default 0. */
  slotBoards?: number;
  /** MDB machines c1..cN (select-then-pay), one entry each. */
  mdbMachines?: RigMdbMachineOptions[];
  /** Where the simulated devices run (see DeviceMode). Default `pty`. */
  devices?: DeviceMode;
  /** Slot-board motor time; default 20 ms. */
  motorMs?: number;
  /** memory devices: further slot-board simulator options (poll, resend timing). */
  slotBoardSim?: Partial<SlotBoardSimOptions>;
  /** Overrides of every slot-board machine's gateway config entry (e.g. its telemetry graces). */
  slotBoardMachine?: Partial<MachineInput>;
  /** Default `whole`. */
  gateway?: GatewayLevel;
  /**
   * `aedes` is the gateway's embedded broker when the whole gateway runs in
   * this process, else one started here; `mosquitto` a Mosquitto process.
   * Default `aedes` with a gateway (whole or process), else none.
   */
  broker?: BrokerKind | 'none';
  /** The simulated platform on the broker; default on whenever there is a broker. */
  platform?: boolean;
  /** Top-level config sections merged over the rig's (machines are appended instead). */
  config?: Partial<ConfigInput>;
  /** `drivers` level: options for every slot-board driver. */
  slotBoardDriver?: Partial<SlotBoardDriverOptions>;
  /** `drivers` level: options for every MDB driver. */
  mdbDriver?: Partial<MdbCashlessDriverOptions>;
  /** Wait until every machine and reader is online before returning; default true. */
  waitOnline?: boolean;
  /** Fields merged over the rig's own config entry of a machine, by machine id (e.g. a DEX port for m1). */
  machineOverrides?: Record<string, Partial<MachineInput>>;
}

export interface Rig {
  readonly dir: string;
  readonly gatewayId: string;
  /** The platform signing key the gateway trusts. */
  readonly keys: RawKeyPair;
  readonly boards: readonly RigSlotBoard[];
  readonly mdb: readonly RigMdbMachine[];
  /** The gateway config (before defaults). */
  readonly config: ConfigInput;
  /** The broker every MQTT client of the rig connects to. */
  readonly brokerUrl: string;
  readonly mosquitto: MosquittoHandle | undefined;
  /** `whole`: the gateway in this process (throws otherwise). */
  readonly gw: Gateway;
  /** `process`: the gateway process (throws otherwise). */
  readonly gatewayProcess: GatewayProcess;
  /** `drivers`: the slot-board drivers by machine id. */
  readonly drivers: ReadonlyMap<string, SlotBoardDriver>;
  /** `drivers`: the MDB drivers by machine id. */
  readonly readers: ReadonlyMap<string, MdbCashlessDriver>;
  /** The simulated platform (throws when the rig has none). */
  readonly platform: SimPlatform;
  /** A paid order for a slot at 3.50 CNY, with a unique id. */
  order(machineId: string, slot: number, over?: Partial<PaidOrder>): PaidOrder;
  /**
   * Resolves when every listed order is final: dispensed or refund_requested
   * in the ledger with nothing left to report (`whole`), or its final event
   * received by the platform (`process`).
   */
  settled(orderIds: readonly string[], timeoutMs?: number): Promise<void>;
  /** Stops everything the rig started, newest first. Called by the rig's own cleanup. */
  stop(): Promise<void>;
}

const SLOTS = [1, 2, 3, 4, 5, 6];
const SLOT_PRICE = 350;
const PRODUCTS = ['Cola 330 ml', 'Oolong Tea 500 ml', 'Water 550 ml', 'Orange Juice', 'Green Tea', 'Coffee'];
let counter = 0;

/**
 * Builds a rig inside a test and stops it when that test finishes, pass or
 * fail (vitest's onTestFinished).
 */
export async function startRig(opts: RigOptions = {}): Promise<Rig> {
  const rig = await buildRig(opts);
  onTestFinished(() => rig.stop());
  return rig;
}

/**
 * One rig for the tests of the enclosing describe (or file): built in
 * beforeAll, stopped in afterAll. Returns a handle that forwards to the rig
 * once it is built, so tests write `h.platform`, `h.gw` as usual.
 */
export function useRig(opts: RigOptions = {}): Rig {
  let current: Rig | undefined;
  beforeAll(async () => {
    current = await buildRig(opts);
  });
  afterAll(async () => {
    await current?.stop();
    current = undefined;
  });
  return new Proxy({} as Rig, {
    get(_, key) {
      if (!current)
        throw new Error(`the rig is not running (use it inside a test or hook, not at collection)`);
      const value = Reflect.get(current, key, current);
      return typeof value === 'function' ? value.bind(current) : value;
    },
  });
}

async function buildRig(opts: RigOptions): Promise<Rig> {
  const level = opts.gateway ?? 'whole';
  const mode = opts.devices ?? 'pty';
  const brokerKind = opts.broker ?? (level === 'whole' || level === 'process' ? 'aedes' : 'none');
  if (level === 'process' && mode === 'memory') {
    throw new Error('rig: a gateway process cannot reach in-process devices; use devices: "pty"');
  }
  if (opts.platform && brokerKind === 'none') throw new Error('rig: the platform needs a broker');

  const cleanups: Cleanup[] = [];
  const stop = async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch {}
    }
  };
  try {
    const tmp = tempDir('vendgate-rig-');
    cleanups.push(tmp.cleanup);
    const gatewayId = `rig-${process.pid}-${++counter}`;
    const keys = generateRawKeyPair();

    const mosquitto = brokerKind === 'mosquitto' ? await startMosquitto() : undefined;
    if (mosquitto) cleanups.push(() => mosquitto.stop());
    let standalone: EmbeddedBroker | undefined;
    if (brokerKind === 'aedes' && level !== 'whole') {
      standalone = await startEmbeddedBroker({ port: 0, log: silentLogger() });
      cleanups.push(() => standalone?.close());
    }
    const externalBrokerUrl = mosquitto?.url ?? standalone?.url;

    const boards: RigSlotBoard[] = [];
    for (let i = 1; i <= (opts.slotBoards ?? 0); i++) {
      const board = await startSlotBoard({
        id: `m${i}`,
        mode,
        dir: tmp.dir,
        motorMs: opts.motorMs ?? 20,
        slots: SLOTS.map((slot) => ({ slot, stock: 1000, price: SLOT_PRICE })),
        sim: { pollMs: 50, ...opts.slotBoardSim },
      });
      cleanups.push(() => board.stop());
      boards.push(board);
    }
    const mdb: RigMdbMachine[] = [];
    for (const [i, m] of (opts.mdbMachines ?? []).entries()) {
      const machine = await startMdbMachine({
        id: `c${i + 1}`,
        mode,
        dir: tmp.dir,
        items: m.items ?? SLOTS.map((item) => ({ item, price: 300 + item * 10 })),
        vendMs: m.vendMs,
      });
      cleanups.push(() => machine.stop());
      mdb.push(machine);
    }

    const config: ConfigInput = {
      gatewayId,
      dataDir: tmp.dir,
      log: level === 'process' ? { level: 'warn', pretty: false } : { level: 'silent' },
      broker: externalBrokerUrl
        ? { url: externalBrokerUrl }
        : { embedded: { host: '127.0.0.1', port: 0, users: [] } },
      platform: { publicKeys: { default: keys.publicKey }, resendAfterMs: 500 },
      http: { enabled: false },
      ...opts.config,
      machines: [
        ...boards.map(
          (b) =>
            ({
              ...slotBoardMachine(b),
              ...opts.slotBoardMachine,
              ...opts.machineOverrides?.[b.id],
            }) as MachineInput,
        ),
        ...mdb.map(
          (c, i) =>
            ({
              ...mdbMachine(c, opts.mdbMachines?.[i]?.machine),
              ...opts.machineOverrides?.[c.id],
            }) as MachineInput,
        ),
        ...(opts.config?.machines ?? []),
      ],
    };
    const memoryTransports = new Map<string, ByteTransport>(
      [...boards, ...mdb].flatMap((d) => (d.host ? [[d.url, d.host] as const] : [])),
    );
    const transportFactory: TransportFactory | undefined =
      mode === 'memory'
        ? (url) => {
            const t = memoryTransports.get(url);
            if (!t) throw new Error(`rig: no in-process device on ${url}`);
            return t;
          }
        : undefined;
    const waitOnline = opts.waitOnline ?? true;

    let brokerUrl = externalBrokerUrl ?? '';
    let platform: SimPlatform | undefined;
    const startPlatform = async () => {
      if (!(opts.platform ?? brokerKind !== 'none')) return;
      const p = new SimPlatform({ brokerUrl, gatewayId, privateKey: keys.privateKey });
      await p.connect();
      platform = p;
      cleanups.push(() => p.close());
    };

    let gw: Gateway | undefined;
    let proc: GatewayProcess | undefined;
    const drivers = new Map<string, SlotBoardDriver>();
    const readers = new Map<string, MdbCashlessDriver>();
    if (level === 'whole') {
      const started = await startGateway({
        config: parseConfig(config),
        log: silentLogger(),
        transportFactory,
      });
      gw = started;
      cleanups.push(() => started.stop());
    } else if (level === 'process') {
      // The platform connects first, as it would be already: it sees the gateway come online.
      await startPlatform();
      const p = gatewayProcess(tmp.dir, config);
      proc = p;
      cleanups.push(() => p.stop());
      p.start();
    } else if (level === 'drivers') {
      for (const b of boards) {
        const d = new SlotBoardDriver({
          machineId: b.id,
          url: b.url,
          transportFactory,
          log: silentLogger(),
          ...opts.slotBoardDriver,
        });
        drivers.set(b.id, d);
        cleanups.push(() => d.stop());
        await d.start();
      }
      for (const [i, c] of mdb.entries()) {
        const mdbConfig = { scaleFactor: 1, decimalPlaces: 2, maxResponseTimeSec: 60 };
        Object.assign(mdbConfig, opts.mdbMachines?.[i]?.machine?.mdb);
        const d = new MdbCashlessDriver({
          machineId: c.id,
          url: c.url,
          transportFactory,
          currency: 'CNY',
          ...mdbConfig,
          log: silentLogger(),
          ...opts.mdbDriver,
        });
        readers.set(c.id, d);
        cleanups.push(() => d.stop());
        await d.start();
      }
    }

    if (gw) brokerUrl = gw.brokerUrl;
    if (level !== 'process') await startPlatform();
    if (waitOnline && proc && platform) {
      const p = platform;
      await waitUntil(() => p.lastStatus?.state === 'online', {
        timeoutMs: 30_000,
        what: 'gateway process online',
      });
    }
    if (waitOnline) {
      const online = [
        ...(gw ? [...gw.machines.values(), ...gw.readers.values()] : []),
        ...drivers.values(),
        ...readers.values(),
      ];
      await Promise.all(
        online.map((m) => waitUntil(() => m.online, { timeoutMs: 15_000, what: `${m.machineId} online` })),
      );
    }

    let n = 0;
    const absent = (what: string): never => {
      throw new Error(`rig: this rig has no ${what} (see RigOptions)`);
    };
    const rig: Rig = {
      dir: tmp.dir,
      gatewayId,
      keys,
      boards,
      mdb,
      config,
      brokerUrl,
      mosquitto,
      get gw() {
        return gw ?? absent('in-process gateway (gateway: "whole")');
      },
      get gatewayProcess() {
        return proc ?? absent('gateway process (gateway: "process")');
      },
      drivers,
      readers,
      get platform() {
        return platform ?? absent('platform (platform: true, with a broker)');
      },
      order: (machineId, slot, over = {}) => ({
        orderId: `ord-${counter}-${++n}-${Date.now().toString(36)}`,
        machineId,
        slot,
        price: { amount: SLOT_PRICE, currency: 'CNY' },
        provider: 'wechat',
        expiresAt: Date.now() + 3600_000,
        ...over,
      }),
      async settled(orderIds, timeoutMs = 20_000) {
        const done = gw
          ? () =>
              orderIds.every((id) => {
                const s = gw?.ledger.get(id)?.state;
                return s === 'dispensed' || s === 'refund_requested';
              }) && gw.outbox.stats().pending === 0
          : () => orderIds.every((id) => finalAtPlatform(rig.platform, id));
        await waitUntil(done, { timeoutMs, what: 'orders settled and reported' });
      },
      stop,
    };
    return rig;
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Whether the platform has received the order's final event (vend.succeeded or refund.requested). */
export function finalAtPlatform(platform: SimPlatform, orderId: string): boolean {
  return platform.events.some(
    (e) =>
      (e.type === 'vend.succeeded' || e.type === 'refund.requested') &&
      (e.data as { orderId: string }).orderId === orderId,
  );
}

function slotBoardMachine(b: RigSlotBoard): MachineInput {
  return {
    id: b.id,
    port: b.url,
    currency: 'CNY',
    display: { locale: 'zh-CN', name: `Machine ${b.id}`, staticQrUrl: `https://pay.example.com/m/${b.id}` },
    slots: SLOTS.map((slot) => ({ slot, price: SLOT_PRICE, name: PRODUCTS[slot - 1] })),
  };
}

function mdbMachine(c: RigMdbMachine, over: Partial<MachineInput> = {}): MachineInput {
  return {
    id: c.id,
    driver: 'mdb',
    port: c.url,
    currency: 'CNY',
    mdb: { scaleFactor: 1, decimalPlaces: 2, maxResponseTimeSec: 60 },
    display: { locale: 'zh-CN', name: `Lobby ${c.id}`, staticQrUrl: `https://pay.example.com/m/${c.id}` },
    slots: SLOTS.map((slot) => ({ slot, name: PRODUCTS[slot - 1] })),
    ...over,
  };
}
