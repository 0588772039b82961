import { createPtyPair, type PtyPair } from '../firmware-sim/pty.ts';
import { tempDir } from '../testing/tmp.ts';
import { type GatewayRig, startGatewayRig, throughput } from './remote-vend.ts';
import { summarize } from './stats.ts';
import { startUplinkBroker, type UplinkBroker } from './tls-broker.ts';

export interface UplinkTlsBenchOptions {
  machines?: number;
  latencyOrders?: number;
  throughputOrders?: number;
}

interface UplinkRun {
  latency: ReturnType<typeof summarize>;
  throughputPerSec: number;
  cpuMsPerOrder: number;
  peakRssMb: number;
}

export interface UplinkTlsBenchResult {
  machines: number;
  broker: string;
  plain: UplinkRun;
  tls: UplinkRun;
  /** TLS / plain, same run. */
  p50Ratio: number;
  p99Ratio: number;
  cpuRatio: number;
  throughputRatio: number;
}

/**
 * The platform link over TLS beside plain TCP, in the same run: two
 * gateways (own processes, own boards on ptys) whose uplink goes to the
 * same operator's broker (Mosquitto, its own process), one over mqtt://,
 * one over mqtts:// with a client certificate. The simulated platform of
 * each connects to that broker over plain TCP, so the two differ only in
 * the gateway's own link. As in the remote-vend bench, latency samples
 * alternate between the two rigs one order at a time, then each has a
 * closed-loop throughput run measuring its gateway's CPU per order.
 */
export async function runUplinkTlsBench(opts: UplinkTlsBenchOptions = {}): Promise<UplinkTlsBenchResult> {
  const machines = opts.machines ?? 20;
  const latencyOrders = opts.latencyOrders ?? 1000;
  const throughputOrders = opts.throughputOrders ?? 10_000;
  const tmp = tempDir('vendgate-bench-uplink-');
  const ptys: PtyPair[] = [];
  const rigs: GatewayRig[] = [];
  let broker: UplinkBroker | undefined;
  try {
    broker = await startUplinkBroker();
    const makePtys = async (prefix: string) => {
      const made: PtyPair[] = [];
      for (let i = 1; i <= machines; i++) {
        made.push(
          await createPtyPair(tmp.dir, { hostName: `${prefix}gw${i}`, deviceName: `${prefix}dev${i}` }),
        );
      }
      ptys.push(...made);
      return made;
    };
    const plain = await startGatewayRig(tmp.dir, await makePtys('plain-'), {
      gatewayId: 'bench-plain',
      uplink: { url: broker.plainUrl, platformUrl: broker.plainUrl },
    });
    rigs.push(plain);
    const tls = await startGatewayRig(tmp.dir, await makePtys('tls-'), {
      gatewayId: 'bench-tls',
      uplink: { url: broker.tlsUrl, platformUrl: broker.plainUrl, tls: broker.tls },
    });
    rigs.push(tls);

    const samples = { plain: [] as number[], tls: [] as number[] };
    const timed = async (rig: GatewayRig, into: number[]) => {
      const request = rig.prepare(0);
      const t0 = performance.now();
      await request();
      into.push(performance.now() - t0);
    };
    for (let i = 0; i < 30; i++) {
      await plain.prepare(0)();
      await tls.prepare(0)();
    }
    for (let i = 0; i < latencyOrders; i++) {
      if (i % 2 === 0) await timed(plain, samples.plain);
      await timed(tls, samples.tls);
      if (i % 2 === 1) await timed(plain, samples.plain);
    }
    const plainRun = await throughput(plain, machines, throughputOrders);
    const tlsRun = await throughput(tls, machines, throughputOrders);
    const run = (rig: GatewayRig, s: number[], t: typeof plainRun): UplinkRun => ({
      latency: summarize(s),
      throughputPerSec: t.perSec,
      cpuMsPerOrder: t.cpu.gateway,
      peakRssMb: rig.peakRssMb(),
    });
    const p = run(plain, samples.plain, plainRun);
    const t = run(tls, samples.tls, tlsRun);
    return {
      machines,
      broker: 'mosquitto (own process), TLS listener requiring a client certificate (P-256)',
      plain: p,
      tls: t,
      p50Ratio: t.latency.p50 / p.latency.p50,
      p99Ratio: t.latency.p99 / p.latency.p99,
      cpuRatio: t.cpuMsPerOrder / p.cpuMsPerOrder,
      throughputRatio: t.throughputPerSec / p.throughputPerSec,
    };
  } finally {
    for (const rig of rigs.reverse()) await rig.close().catch(() => {});
    await broker?.stop().catch(() => {});
    await Promise.all(ptys.map((p) => p.close().catch(() => {})));
    tmp.cleanup();
  }
}

/** The lines `npm run bench -- remote-vend` prints for the uplink comparison. */
export function formatUplinkTlsBench(r: UplinkTlsBenchResult): string {
  const f = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
  const row = (name: string, x: UplinkRun) =>
    `${name.padEnd(28)} ${f(x.latency.p50).padStart(8)} ${f(x.latency.p99).padStart(8)} ${f(x.cpuMsPerOrder, 3).padStart(10)} ${f(x.throughputPerSec, 0).padStart(10)} ${f(x.peakRssMb, 1).padStart(8)}`;
  return [
    `platform link over TLS beside plain TCP, ${r.machines} machines each, uplink to ${r.broker}`,
    '',
    `${'uplink'.padEnd(28)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'CPU ms/ord'.padStart(10)} ${'orders/s'.padStart(10)} ${'RSS MB'.padStart(8)}`,
    row('mqtt:// (plain TCP)', r.plain),
    row('mqtts:// (TLS, client cert)', r.tls),
    '',
    `TLS / plain: p50 ${f(r.p50Ratio)}x, p99 ${f(r.p99Ratio)}x, gateway CPU per order ${f(r.cpuRatio)}x, throughput ${f(r.throughputRatio)}x`,
  ].join('\n');
}
