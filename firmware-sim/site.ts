import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ConfigInput } from '../gateway/config/schema.ts';
import { generateRawKeyPair, type RawKeyPair } from '../gateway/link/signing.ts';
import { createPtyPair, type PtyPair } from './pty.ts';
import { type SlotBoardProcess, spawnSlotBoard } from './slot-board/spawn.ts';

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
}

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
  try {
    for (let i = 1; i <= opts.machines; i++) {
      const id = `m${i}`;
      const mdir = join(opts.dir, id);
      mkdirSync(mdir, { recursive: true });
      const pty = await createPtyPair(mdir, { hostName: 'gateway', deviceName: 'board' });
      const logPath = join(mdir, 'vends.jsonl');
      const board = await spawnSlotBoard({
        port: pty.devicePath,
        logPath,
        motorMs: opts.motorMs ?? 800,
        config: { slots: slots.map((slot) => ({ slot, stock: opts.stock ?? 1000, price })) },
      });
      machines.push({ id, pty, board, logPath });
    }
  } catch (err) {
    await stopAll(machines);
    throw err;
  }
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
    machines: machines.map((m) => ({
      id: m.id,
      port: m.pty.hostPath,
      currency: 'CNY',
      slots: slots.map((slot) => ({ slot, price })),
    })),
  };
  return { config, keys, machines, stop: () => stopAll(machines) };
}

async function stopAll(machines: SimMachine[]): Promise<void> {
  await Promise.all(machines.map((m) => m.board.stop().catch(() => {})));
  await Promise.all(machines.map((m) => m.pty.close().catch(() => {})));
}

/** `vendgate demo` (what `npm start` runs): the gateway and a simulated site with orders flowing. */
export async function runDemo(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      machines: { type: 'string', default: '2' },
      rate: { type: 'string', default: '0.5' },
      'http-port': { type: 'string', default: '8080' },
      'broker-port': { type: 'string', default: '1883' },
      dir: { type: 'string', default: './data/demo' },
    },
  });
  const { startGateway } = await import('../gateway/app.ts');
  const { parseConfig } = await import('../gateway/config/load.ts');
  const { createRootLogger, namespaced } = await import('../gateway/log.ts');
  const { SimPlatform } = await import('./platform/platform.ts');
  const { waitForSignal } = await import('../gateway/cli.ts');

  const dir = resolve(values.dir);
  const site = await startSimSite({
    dir,
    machines: Number(values.machines),
    httpPort: Number(values['http-port']),
    brokerPort: Number(values['broker-port']),
  });
  const config = parseConfig(site.config, 'demo site');
  const log = createRootLogger({ level: config.log.level, pretty: true });
  const gw = await startGateway({ config, log });
  const platform = new SimPlatform({
    brokerUrl: gw.brokerUrl,
    gatewayId: config.gatewayId,
    privateKey: site.keys.privateKey,
    adoptFirstSeq: true,
  });
  await platform.connect();
  const plog = namespaced(log, 'platform-sim');
  log.info(
    {
      dashboard: gw.httpUrl,
      broker: gw.brokerUrl,
      machines: site.machines.map((m) => m.pty.hostPath),
      dataDir: dir,
    },
    `demo site running: dashboard ${gw.httpUrl}/ (Ctrl-C to stop)`,
  );

  // Place orders at the given rate; some are duplicated as providers retry.
  let n = 0;
  const rate = Number(values.rate);
  const timer = setInterval(
    () => {
      const m = site.machines[n % site.machines.length]!;
      const orderId = `demo-${Date.now().toString(36)}-${n++}`;
      const order = {
        orderId,
        machineId: m.id,
        slot: 1 + (n % 6),
        price: { amount: 350, currency: 'CNY' },
        provider: n % 2 ? 'wechat' : 'alipay',
        expiresAt: Date.now() + 2 * 3600_000,
      };
      void platform
        .placeOrder(order)
        .catch((err: Error) => plog.warn({ err: err.message }, 'order not sent'));
      if (n % 5 === 0) {
        setTimeout(() => void platform.placeOrder(order).catch(() => {}), 1500);
      }
    },
    Math.max(50, 1000 / rate),
  );
  const summary = setInterval(() => {
    plog.info(
      {
        events: platform.events.length,
        vends: platform.eventsOfType('vend.succeeded').length,
        refunds: platform.eventsOfType('refund.requested').length,
        orders: gw.ledger.countByState(),
      },
      'platform view',
    );
  }, 10_000);

  await waitForSignal();
  clearInterval(timer);
  clearInterval(summary);
  await platform.close();
  await gw.stop();
  await site.stop();
  return 0;
}
