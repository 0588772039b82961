import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateRawKeyPair, type RawKeyPair } from '../../contract/signing.ts';
import { type DexSimProcess, spawnDexSim } from '../../firmware-sim/dex/spawn.ts';
import type { MdbSimProcess } from '../../firmware-sim/mdb/spawn.ts';
import type { PtyPair } from '../../firmware-sim/pty.ts';
import { VENDING_SIMULATORS } from '../../firmware-sim/registry.ts';
import type { SlotBoardProcess } from '../../firmware-sim/slot-board/spawn.ts';
import type { ConfigInput } from '../../gateway/config/schema.ts';

export interface SimSiteOptions {
  /** Working directory for pty links, vend logs and the SQLite file. */
  dir: string;
  machines: number;
  slotsPerMachine?: number;
  /** Slot price in minor units (CNY). */
  price?: number;
  stock?: number;
  motorMs?: number;
  gatewayId?: string;
  httpPort?: number;
  brokerPort?: number;
  /** Use this broker instead of the embedded one. */
  brokerUrl?: string;
  /** MDB (select-then-pay) machines, each an MDB machine + adapter simulator on its own pty. */
  cashlessMachines?: number;
  /** Pay-first MDB machines (pay on the phone, then choose on the machine), ids p1, p2, ... */
  payFirstMachines?: number;
  /** Shake beacons, coupons and a campaign, fed through noble from the beacon simulator. */
  beacons?: boolean;
  /**
   * How many items each slot-board slot holds: the slots get this capacity
   * (a refill without a level fills to it) and the boards start full.
   * Without it the boards hold `stock` (default 1000) and the slots no capacity.
   */
  capacity?: number;
  /** The low-stock mark of every slot-board slot (with `capacity`). */
  lowStockAt?: number;
  /**
   * A DEX port beside the first slot-board machine: the DEX simulator on its
   * own pty playing a recorded audit, read on this schedule ("2m", "off").
   */
  dexEvery?: string;
  /** How long a slot-board machine's door may stay open before door_open is raised (default the config's). */
  doorOpenGraceMs?: number;
}

/**
 * What `npm start` sets up beyond the machines: slots of 30 with a low-stock
 * mark at 5, a DEX port read every 2 minutes, a door grace short enough to
 * see the door scene raise door_open.
 */
export const DEMO_SITE_STOCK = {
  capacity: 30,
  lowStockAt: 5,
  dexEvery: '2m',
  doorOpenGraceMs: 5_000,
} as const;

/** The audit the demo's DEX port plays (a copy of a recorded can-machine audit). */
export const DEMO_DEX_AUDIT = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../firmware-sim/dex/fixtures/demo.dex',
);

export interface SimCashlessMachine {
  id: string;
  pty: PtyPair;
  sim: MdbSimProcess;
  /** TCP port of the simulator's control socket: `vendgate sim select --control PORT --item N`. */
  controlPort: number;
}

export const DEMO_BEACON = 'ibeacon:FDA50693-A4E2-4FB1-AFCF-C6EB07647825:10001:1';

export interface SimMachine {
  id: string;
  pty: PtyPair;
  board: SlotBoardProcess;
  logPath: string;
}

export interface SimSite {
  config: ConfigInput;
  keys: RawKeyPair;
  machines: SimMachine[];
  /** Select-then-pay MDB machines. */
  cashless: SimCashlessMachine[];
  /** Pay-first MDB machines. */
  payFirst: SimCashlessMachine[];
  /** The DEX port beside the first slot-board machine, when `dexEvery` was given. */
  dex: { machineId: string; sim: DexSimProcess } | undefined;
  stop(): Promise<void>;
}

/**
 * A simulated site: N slot-board controllers, each its own process on one end
 * of a socat pty pair, and the gateway config that reaches them on the other
 * end, trusting a fresh platform signing key. Used by `npm start`, the
 * integration tests and the benchmark.
 */
export async function startSimSite(opts: SimSiteOptions): Promise<SimSite> {
  mkdirSync(opts.dir, { recursive: true });
  const slots = Array.from({ length: opts.slotsPerMachine ?? 6 }, (_, i) => i + 1);
  const price = opts.price ?? 350;
  const machines: SimMachine[] = [];
  const cashless: SimCashlessMachine[] = [];
  const payFirst: SimCashlessMachine[] = [];
  let dex: SimSite['dex'];
  const stop = async () => {
    await dex?.sim.stop().catch(() => {});
    await stopAll(machines, [...cashless, ...payFirst]);
  };
  const mdb = async (id: string): Promise<SimCashlessMachine> => {
    const { pty, sim } = await VENDING_SIMULATORS.mdb.spawnOnPty({
      dir: machineDir(opts.dir, id),
      items: slots.map((slot) => ({ slot, price: price + 50 * (slot - 1) })),
    });
    return { id, pty, sim, controlPort: Number(sim.control) };
  };
  try {
    for (let i = 1; i <= (opts.cashlessMachines ?? 0); i++) cashless.push(await mdb(`c${i}`));
    for (let i = 1; i <= (opts.payFirstMachines ?? 0); i++) payFirst.push(await mdb(`p${i}`));
    for (let i = 1; i <= opts.machines; i++) {
      const id = `m${i}`;
      const { pty, sim, logPath } = await VENDING_SIMULATORS['slot-board'].spawnOnPty({
        dir: machineDir(opts.dir, id),
        items: slots.map((slot) => ({ slot, price })),
        stock: opts.capacity ?? opts.stock ?? 1000,
        vendMs: opts.motorMs ?? 800,
      });
      machines.push({ id, pty, board: sim, logPath });
    }
    const first = machines[0];
    if (opts.dexEvery !== undefined && first) {
      const sim = await spawnDexSim({ dir: machineDir(opts.dir, `${first.id}-dex`), audit: DEMO_DEX_AUDIT });
      dex = { machineId: first.id, sim };
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const stockMarks =
    opts.capacity === undefined
      ? {}
      : {
          capacity: opts.capacity,
          ...(opts.lowStockAt === undefined ? {} : { lowStockAt: opts.lowStockAt }),
        };
  const mdbMachine = (c: SimCashlessMachine, mode: 'select-then-pay' | 'pay-first') => ({
    id: c.id,
    driver: 'mdb' as const,
    port: c.pty.hostPath,
    currency: 'CNY',
    ...(mode === 'pay-first' ? { cashlessMode: 'pay-first' as const } : {}),
    mdb: { scaleFactor: 1, decimalPlaces: 2, maxResponseTimeSec: 60 },
    display: {
      locale: 'zh-CN' as const,
      name: mode === 'pay-first' ? `Pay-first ${c.id}` : `Lobby ${c.id}`,
      staticQrUrl: `https://pay.example.com/m/${c.id}`,
    },
    slots: slots.map((slot) => ({ slot, name: PRODUCTS[(slot - 1) % PRODUCTS.length] })),
  });
  const keys = generateRawKeyPair();
  const config: ConfigInput = {
    gatewayId: opts.gatewayId ?? 'demo-site',
    dataDir: opts.dir,
    log: { level: 'info', pretty: true },
    broker: opts.brokerUrl
      ? { url: opts.brokerUrl }
      : { embedded: { host: '127.0.0.1', port: opts.brokerPort ?? 1883, users: [] } },
    platform: { publicKeys: { default: keys.publicKey } },
    http: { enabled: true, host: '127.0.0.1', port: opts.httpPort ?? 8080 },
    machines: [
      ...machines.map((m) => ({
        id: m.id,
        port: m.pty.hostPath,
        currency: 'CNY',
        display: {
          locale: 'zh-CN' as const,
          name: `Machine ${m.id}`,
          staticQrUrl: `https://pay.example.com/m/${m.id}`,
        },
        slots: slots.map((slot) => ({
          slot,
          price,
          name: PRODUCTS[(slot - 1) % PRODUCTS.length],
          ...stockMarks,
        })),
        ...(opts.doorOpenGraceMs === undefined
          ? {}
          : { telemetry: { doorOpenGraceMs: opts.doorOpenGraceMs } }),
        ...(dex?.machineId === m.id
          ? { dex: { port: dex.sim.pty.hostPath, every: opts.dexEvery ?? 'off' } }
          : {}),
      })),
      ...cashless.map((c) => mdbMachine(c, 'select-then-pay')),
      ...payFirst.map((c) => mdbMachine(c, 'pay-first')),
    ],
    ...(opts.beacons
      ? {
          ble: {
            simulate: true,
            beacons: [
              { id: DEMO_BEACON, name: 'Entrance' },
              { id: 'ibeacon:FDA50693-A4E2-4FB1-AFCF-C6EB07647825:10001:2', name: 'Counter' },
            ],
          },
          coupons: {
            userKey: 'demo-only-user-key-change-me',
            beacons: [DEMO_BEACON],
            campaigns: [
              {
                id: 'demo-lunch',
                name: 'One yuan off',
                value: { kind: 'fixed' as const, amount: { amount: 100, currency: 'CNY' } },
                beacons: [DEMO_BEACON],
                timeZone: 'Asia/Shanghai',
                budget: { count: 500, money: { amount: 50_000, currency: 'CNY' } },
                perUserPerDay: 2,
                startsAt: Date.now() - 60_000,
                endsAt: Date.now() + 30 * 86_400_000,
              },
            ],
          },
        }
      : {}),
  };
  return { config, keys, machines, cashless, payFirst, dex, stop };
}

function machineDir(siteDir: string, id: string): string {
  const dir = join(siteDir, id);
  mkdirSync(dir, { recursive: true });
  return dir;
}

const PRODUCTS = ['Cola 330 ml', 'Oolong Tea 500 ml', 'Water 550 ml', 'Orange Juice', 'Green Tea', 'Coffee'];

async function stopAll(machines: SimMachine[], cashless: SimCashlessMachine[] = []): Promise<void> {
  await Promise.all(machines.map((m) => m.board.stop().catch(() => {})));
  await Promise.all(cashless.map((c) => c.sim.stop().catch(() => {})));
  await Promise.all([...machines, ...cashless].map((m) => m.pty.close().catch(() => {})));
}
