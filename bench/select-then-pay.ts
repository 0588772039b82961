import { silentLogger } from '../core/log.ts';
import { SimPlatform } from '../firmware-sim/platform/platform.ts';
import { parseConfig } from '../gateway/config/load.ts';
import { startSimSite } from '../main/demo/site.ts';
import { startGateway } from '../main/gateway.ts';
import { tempDir } from '../testing/tmp.ts';
import { summarize } from './stats.ts';

export interface SelectThenPayBenchResult {
  rounds: number;
  /** Button pressed on the simulated machine -> the machine sees its vend approved. */
  total: ReturnType<typeof summarize>;
  /** Machine -> gateway: the vend request crosses the adapter's serial line (pty) and the driver. */
  deviceToGateway: ReturnType<typeof summarize>;
  /** Gateway -> platform: session recorded, order.create published, received by the platform. */
  gatewayToPlatform: ReturnType<typeof summarize>;
  /** The platform's own time: create the order, answer, publish the signed payment. */
  platform: ReturnType<typeof summarize>;
  /** Payment published -> approval seen by the machine: guard, ledger on disk, display, approve over serial. */
  paymentToApproval: ReturnType<typeof summarize>;
  /** What vendgate adds (everything but the platform's own time and the button press), p50. */
  gatewayShareP50Ms: number;
}

/**
 * Select-then-pay round trip on real transports: the MDB machine + adapter
 * simulator in its own process on a socat pty, the gateway in this process
 * with its embedded broker and its ledger on disk, and a platform that pays
 * as soon as it has created the order (a customer who scans instantly).
 */
export async function runSelectThenPayBench(
  opts: { rounds?: number } = {},
): Promise<SelectThenPayBenchResult> {
  const rounds = opts.rounds ?? 60;
  const tmp = tempDir('vendgate-bench-stp-');
  const site = await startSimSite({
    dir: tmp.dir,
    machines: 0,
    cashlessMachines: 1,
    brokerPort: 0,
    httpPort: 0,
  });
  const config = parseConfig({ ...site.config, log: { level: 'silent' }, http: { enabled: false } });
  const gw = await startGateway({ config, log: silentLogger() });
  const platform = new SimPlatform({
    brokerUrl: gw.brokerUrl,
    gatewayId: config.gatewayId,
    privateKey: site.keys.privateKey,
  });
  await platform.connect();
  const machine = site.cashless[0]!;
  const reader = gw.readers.get(machine.id)!;
  try {
    await machine.sim.waitForEvent(
      (e) => e.event === 'status' && (e.state === 'ENABLED' || e.state === 'IDLE'),
      {
        includePast: true,
        timeoutMs: 30_000,
      },
    );
    let tB = 0;
    let tC = 0;
    let tD = 0;
    let n = 0;
    reader.on('vend-request', () => {
      tB = performance.now();
    });
    platform.onRequest('order.create', (data) => {
      tC = performance.now();
      const d = data as { machineId: string; slot: number; price: { amount: number; currency: string } };
      const orderId = `bench-stp-${++n}`;
      const paid = { orderId, machineId: d.machineId, slot: d.slot, price: d.price, provider: 'wechat' };
      setImmediate(() => {
        tD = performance.now();
        void platform.placeOrder({ ...paid, expiresAt: Date.now() + 3600_000 });
      });
      return {
        orderId,
        paymentUrl: `https://pay.example.com/o/${orderId}`,
        providers: ['wechat'],
        expiresAt: Date.now() + 3600_000,
      };
    });
    const samples = {
      total: [] as number[],
      d2g: [] as number[],
      g2p: [] as number[],
      p: [] as number[],
      p2a: [] as number[],
    };
    for (let i = 0; i < rounds + 5; i++) {
      const approved = machine.sim.waitForEvent('approved', { timeoutMs: 10_000 });
      const done = machine.sim.waitForEvent('vend-success', { timeoutMs: 10_000 });
      const tA = performance.now();
      machine.sim.select(1 + (i % 6));
      await approved;
      const tE = performance.now();
      await done;
      await new Promise((r) => setTimeout(r, 30)); // let the machine return to idle
      if (i < 5) continue; // warm-up
      samples.total.push(tE - tA);
      samples.d2g.push(tB - tA);
      samples.g2p.push(tC - tB);
      samples.p.push(tD - tC);
      samples.p2a.push(tE - tD);
    }
    const r = {
      rounds,
      total: summarize(samples.total),
      deviceToGateway: summarize(samples.d2g),
      gatewayToPlatform: summarize(samples.g2p),
      platform: summarize(samples.p),
      paymentToApproval: summarize(samples.p2a),
    };
    return { ...r, gatewayShareP50Ms: r.total.p50 - r.platform.p50 };
  } finally {
    await platform.close();
    await gw.stop();
    await site.stop();
    tmp.cleanup();
  }
}
