import { silentLogger } from '../../core/log.ts';
import type { PaidOrder } from '../../firmware-sim/platform/platform.ts';
import { SimPlatform } from '../../firmware-sim/platform/platform.ts';
import { parseConfig } from '../../gateway/config/load.ts';
import type { ConfigInput } from '../../gateway/config/schema.ts';
import { type SimSite, startSimSite } from '../../main/demo/site.ts';
import { type Gateway, startGateway } from '../../main/gateway.ts';
import { tempDir } from '../../testing/tmp.ts';
import { type MosquittoHandle, startMosquitto } from './mosquitto.ts';

export type BrokerKind = 'aedes' | 'mosquitto';

export interface Harness {
  site: SimSite;
  gw: Gateway;
  platform: SimPlatform;
  mosquitto: MosquittoHandle | undefined;
  dir: string;
  order(machineId: string, slot: number, over?: Partial<PaidOrder>): PaidOrder;
  /** Resolves when every listed order is dispensed or refund_requested in the ledger and reported. */
  settled(orderIds: readonly string[], timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

let counter = 0;

/**
 * A whole site on real transports: slot-board simulator processes on socat
 * pty pairs, the gateway with its SQLite file on disk, a real MQTT broker
 * (embedded aedes or a Mosquitto process) and the simulated platform.
 */
export async function startHarness(opts: {
  broker: BrokerKind;
  machines?: number;
  motorMs?: number;
  config?: Partial<ConfigInput>;
  /** Machines added to the simulated site's (e.g. an MDB cashless machine on its own pty). */
  extraMachines?: NonNullable<ConfigInput['machines']>;
}): Promise<Harness> {
  const tmp = tempDir('vendgate-it-');
  const mosquitto = opts.broker === 'mosquitto' ? await startMosquitto() : undefined;
  const site = await startSimSite({
    dir: tmp.dir,
    machines: opts.machines ?? 2,
    motorMs: opts.motorMs ?? 20,
    brokerUrl: mosquitto?.url,
    brokerPort: 0,
    httpPort: 0,
    gatewayId: `it-${process.pid}-${++counter}`,
  });
  const config = parseConfig({
    ...site.config,
    log: { level: 'silent' },
    http: { enabled: false },
    platform: { ...site.config.platform, resendAfterMs: 500 },
    ...opts.config,
    machines: [...(site.config.machines ?? []), ...(opts.extraMachines ?? [])],
  });
  const gw = await startGateway({ config, log: silentLogger() });
  const platform = new SimPlatform({
    brokerUrl: gw.brokerUrl,
    gatewayId: config.gatewayId,
    privateKey: site.keys.privateKey,
  });
  await platform.connect();
  await Promise.all(
    [...gw.machines.values()].map((m) => waitUntil(() => m.online, 10_000, `${m.machineId} online`)),
  );
  let n = 0;
  return {
    site,
    gw,
    platform,
    mosquitto,
    dir: tmp.dir,
    order: (machineId, slot, over = {}) => ({
      orderId: `ord-${counter}-${++n}-${Date.now().toString(36)}`,
      machineId,
      slot,
      price: { amount: 350, currency: 'CNY' },
      provider: 'wechat',
      expiresAt: Date.now() + 3600_000,
      ...over,
    }),
    async settled(orderIds, timeoutMs = 20_000) {
      await waitUntil(
        () =>
          orderIds.every((id) => {
            const s = gw.ledger.get(id)?.state;
            return s === 'dispensed' || s === 'refund_requested';
          }) && gw.outbox.stats().pending === 0,
        timeoutMs,
        'orders settled and reported',
      );
    },
    async stop() {
      await platform.close().catch(() => {});
      await gw.stop().catch(() => {});
      await site.stop();
      await mosquitto?.stop();
      tmp.cleanup();
    },
  };
}

export async function waitUntil(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
