import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { SerialTransport } from '../devices/vending/transport.ts';
import { SimPlatform } from '../firmware-sim/platform/platform.ts';
import { createPtyPair, type PtyPair } from '../firmware-sim/pty.ts';
import { startEmbeddedBroker } from '../gateway/broker/embedded.ts';
import { gatewayTopics } from '../gateway/contract/topics.ts';
import { connectMqttAsync, connectMqttOver, untilConnected } from '../gateway/link/mqtt-client.ts';
import { generateRawKeyPair } from '../gateway/link/signing.ts';
import { silentLogger } from '../gateway/log.ts';
import { freePort } from '../test/support/mosquitto.ts';
import { tempDir } from '../test/support/tmp.ts';
import { procUsage, summarize } from './stats.ts';

export interface RemoteVendBenchOptions {
  machines?: number;
  latencyOrders?: number;
  throughputOrders?: number;
  /** Skip the bare baseline (for profiling the gateway alone). */
  gatewayOnly?: boolean;
}

/**
 * CPU ms per order (or per bare round trip) of every process in the rig
 * during the throughput run. On a 2-core box the sum bounds throughput:
 * no run can beat cores * 1000 / total orders per second.
 */
export interface RigCpu {
  /** The gateway process (bare: the relay, which lives in the load generator). */
  gateway: number;
  /** The simulated boards (bare: the echo devices), one process. */
  devices: number;
  /** The socat processes making the pty pairs. */
  socat: number;
  /** This process: the simulated platform and listener (bare: also the relay and the broker). */
  loadGenerator: number;
  total: number;
}

export interface RemoteVendBenchResult {
  machines: number;
  bare: { latency: ReturnType<typeof summarize>; throughputPerSec: number; cpu: RigCpu };
  gateway: {
    latency: ReturnType<typeof summarize>;
    throughputPerSec: number;
    cpuMsPerOrder: number;
    peakRssMb: number;
    cpu: RigCpu;
  };
  addedP50Ms: number;
  addedP99Ms: number;
  latencyRatioP99: number;
  throughputRatio: number;
}

const FRAME_BYTES = 16;

/**
 * The gateway runs as in production: the esbuild bundle on plain node
 * (`npm run bench` builds it first), falling back to the sources via tsx.
 */
const GATEWAY_ENTRY =
  process.env.BENCH_GATEWAY_ENTRY ??
  (existsSync('dist/vendgate.mjs') ? 'dist/vendgate.mjs' : 'bin/vendgate.js');

/**
 * Remote vend, measured end to end on real transports and compared in the
 * same run with the bare transport:
 *
 * - bare: MQTT publish -> subscriber -> pty write -> (device echoes) -> pty
 *   read -> MQTT publish -> original publisher. No ledger, no protocol.
 * - gateway: signed order.paid -> gateway process (guard, ledger on disk,
 *   outbox) -> DISPENSE frame on the pty -> simulated board -> result frame
 *   -> vend.succeeded at the platform.
 *
 * Both use the same aedes broker code, the same socat ptys and the same
 * device-side process. Board motor time is 0, so the difference is the
 * gateway's own cost (plus the slot-board protocol's acks).
 */
export async function runRemoteVendBench(opts: RemoteVendBenchOptions = {}): Promise<RemoteVendBenchResult> {
  const machines = opts.machines ?? 20;
  // 2,000 sequential orders: with 300 the p99 rested on 3 samples and swung
  // by several ms between runs of the same build.
  const latencyOrders = opts.latencyOrders ?? 2000;
  // 10,000 orders (500 per machine, about 5 s): a sustained rate, not a
  // 1-2 s burst whose start and drain weigh on the figure.
  const throughputOrders = opts.throughputOrders ?? 10_000;
  const tmp = tempDir('vendgate-bench-');
  const ptys: PtyPair[] = [];
  try {
    for (let i = 1; i <= machines; i++)
      ptys.push(await createPtyPair(tmp.dir, { hostName: `gw${i}`, deviceName: `dev${i}` }));
    const bare = opts.gatewayOnly
      ? { latency: summarize([0]), throughputPerSec: 0, cpu: rigCpu([], [], 1) }
      : await benchBare(ptys, latencyOrders, throughputOrders);
    const gw = await benchGateway(tmp.dir, ptys, latencyOrders, throughputOrders);
    return {
      machines,
      bare,
      gateway: gw,
      addedP50Ms: gw.latency.p50 - bare.latency.p50,
      addedP99Ms: gw.latency.p99 - bare.latency.p99,
      latencyRatioP99: gw.latency.p99 / bare.latency.p99,
      throughputRatio: gw.throughputPerSec / bare.throughputPerSec,
    };
  } finally {
    await Promise.all(ptys.map((p) => p.close().catch(() => {})));
    tmp.cleanup();
  }
}

interface CpuSnapshot {
  pids: number[];
  ms: number[];
  self: number;
}

function snapshot(pids: number[]): CpuSnapshot {
  const u = process.cpuUsage();
  return { pids, ms: pids.map((p) => procUsage(p).cpuMs), self: (u.user + u.system) / 1000 };
}

/** Splits the CPU used between two snapshots (gateway pid first, devices pid second, then socat pids). */
function rigCpu(before: CpuSnapshot | [], after: CpuSnapshot | [], orders: number): RigCpu {
  if (Array.isArray(before) || Array.isArray(after)) {
    return { gateway: 0, devices: 0, socat: 0, loadGenerator: 0, total: 0 };
  }
  const d = after.ms.map((m, i) => (m - before.ms[i]!) / orders);
  const loadGenerator = (after.self - before.self) / orders;
  const gateway = d[0] ?? 0;
  const devices = d[1] ?? 0;
  const socat = d.slice(2).reduce((a, b) => a + b, 0);
  return { gateway, devices, socat, loadGenerator, total: gateway + devices + socat + loadGenerator };
}

async function startDevices(kind: 'echo' | 'board', ptys: PtyPair[]): Promise<ChildProcess> {
  const args = ['--import', 'tsx', 'bench/boards-process.ts'];
  for (const p of ptys) args.push(`--${kind}`, p.devicePath);
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`device process exited with ${code}`)));
  });
  return child;
}

async function stopDevices(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.stdin?.end();
  await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
  child.kill('SIGKILL');
}

async function benchBare(ptys: PtyPair[], latencyOrders: number, throughputOrders: number) {
  const devices = await startDevices('echo', ptys);
  const broker = await startEmbeddedBroker({ port: 0, log: silentLogger() });
  // The relay reaches the broker in its own process as the gateway's link
  // does (openInProcess), so both sides of the comparison cross the same hops.
  const relay = await untilConnected(
    connectMqttOver(() => broker.openInProcess(), { clientId: 'bare-relay' }),
  );
  const client = await connectMqttAsync(broker.url, { clientId: 'bare-platform' });
  const ports = ptys.map((p) => new SerialTransport(p.hostPath, { baudRate: 9600 }));
  try {
    await Promise.all(ports.map((p) => p.open()));
    // Relay: request topic -> pty; pty bytes (fixed-size frames) -> response topic.
    ports.forEach((port, i) => {
      let buf: Buffer = Buffer.alloc(0);
      port.on('data', (chunk) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        while (buf.length >= FRAME_BYTES) {
          const frame = buf.subarray(0, FRAME_BYTES);
          buf = buf.subarray(FRAME_BYTES);
          relay.publish(`bench/bare/${i}/res`, Buffer.from(frame), { qos: 1 });
        }
      });
    });
    relay.on('message', (topic, payload) => {
      const i = Number(topic.split('/')[2]);
      const frame = Buffer.alloc(FRAME_BYTES);
      payload.copy(frame, 0, 0, Math.min(FRAME_BYTES, payload.length));
      ports[i]!.write(frame);
    });
    await relay.subscribeAsync('bench/bare/+/req', { qos: 1 });
    await client.subscribeAsync('bench/bare/+/res', { qos: 1 });
    const waiting = new Map<string, () => void>();
    client.on('message', (_t, payload) => {
      const id = payload.subarray(0, 8).toString('hex');
      waiting.get(id)?.();
      waiting.delete(id);
    });
    let seq = 0;
    const roundTrip = (machine: number) => {
      const id = Buffer.alloc(8);
      id.writeUInt32BE(++seq, 4);
      const key = id.toString('hex');
      const done = new Promise<void>((resolve) => waiting.set(key, resolve));
      client.publish(`bench/bare/${machine}/req`, id, { qos: 1 });
      return done;
    };

    for (let i = 0; i < 30; i++) await roundTrip(0); // warm up
    const samples: number[] = [];
    for (let i = 0; i < latencyOrders; i++) {
      const t0 = performance.now();
      await roundTrip(0);
      samples.push(performance.now() - t0);
    }
    const pids = [process.pid, devices.pid!, ...ptys.map((p) => p.pid!)];
    const cpu0 = snapshot(pids);
    const t0 = performance.now();
    await closedLoop(throughputOrders, (i) => roundTrip(i % ptys.length));
    const throughputPerSec = throughputOrders / ((performance.now() - t0) / 1000);
    // The relay runs in this process: report it as the load generator only.
    const cpu = rigCpu(cpu0, snapshot(pids), throughputOrders);
    cpu.gateway = 0;
    cpu.total = cpu.devices + cpu.socat + cpu.loadGenerator;
    return { latency: summarize(samples), throughputPerSec, cpu };
  } finally {
    await Promise.all(ports.map((p) => p.close().catch(() => {})));
    await relay.endAsync(true);
    await client.endAsync(true);
    await broker.close();
    await stopDevices(devices);
  }
}

async function benchGateway(dir: string, ptys: PtyPair[], latencyOrders: number, throughputOrders: number) {
  const devices = await startDevices('board', ptys);
  const keys = generateRawKeyPair();
  const port = await freePort();
  const gatewayId = 'bench';
  const configPath = join(dir, 'vendgate.yaml');
  writeFileSync(
    configPath,
    stringify({
      gatewayId,
      dataDir: dir,
      log: { level: (process.env.BENCH_GATEWAY_LOG as 'warn') ?? 'warn' },
      broker: { embedded: { port } },
      platform: { publicKeys: { default: keys.publicKey } },
      http: { enabled: false },
      outbox: { maxRows: 1_000_000 },
      machines: ptys.map((p, i) => ({
        id: `m${i + 1}`,
        port: p.hostPath,
        slots: Array.from({ length: 6 }, (_, s) => ({ slot: s + 1, price: 350 })),
      })),
    }),
  );
  // BENCH_GATEWAY_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the gateway process.
  const nodeArgs = process.env.BENCH_GATEWAY_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const gateway = spawn(process.execPath, [...nodeArgs, GATEWAY_ENTRY, 'start', '--config', configPath], {
    stdio: ['ignore', process.env.BENCH_GATEWAY_LOG ? 'inherit' : 'ignore', 'inherit'],
  });
  const url = `mqtt://127.0.0.1:${port}`;
  const topics = gatewayTopics(gatewayId);
  let platform: SimPlatform | undefined;
  let listener: MqttClient | undefined;
  try {
    listener = await connectWithRetry(url);
    const results = new Map<string, () => void>();
    let online = false;
    listener.on('message', (topic, payload) => {
      if (topic === topics.status) {
        online = (JSON.parse(payload.toString()) as { state: string }).state === 'online';
        return;
      }
      const env = JSON.parse(payload.toString()) as { data: { orderId: string } };
      results.get(env.data.orderId)?.();
      results.delete(env.data.orderId);
    });
    await listener.subscribeAsync(
      [topics.status, topics.event('vend.succeeded'), topics.event('refund.requested')],
      { qos: 1 },
    );
    const deadline = Date.now() + 30_000;
    while (!online && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (!online) throw new Error('gateway did not come online');
    await new Promise((r) => setTimeout(r, 1000)); // let every board come online
    platform = new SimPlatform({
      brokerUrl: url,
      gatewayId,
      privateKey: keys.privateKey,
      ackIntervalMs: 5,
      adoptFirstSeq: true,
    });
    await platform.connect();

    let n = 0;
    const build = (machine: number) => {
      const orderId = `bench-${++n}`;
      const cmd = platform!.buildCommand('order.paid', {
        orderId,
        machineId: `m${machine + 1}`,
        slot: 1 + (n % 6),
        price: { amount: 350, currency: 'CNY' },
        provider: 'wechat',
        expiresAt: Date.now() + 3600_000,
      });
      return { orderId, cmd };
    };
    const send = ({ orderId, cmd }: ReturnType<typeof build>) => {
      const done = new Promise<void>((resolve) => results.set(orderId, resolve));
      listener!.publish(cmd.topic, cmd.payload, { qos: 1 });
      return done;
    };

    for (let i = 0; i < 30; i++) await send(build(0)); // warm up
    const samples: number[] = [];
    for (let i = 0; i < latencyOrders; i++) {
      const o = build(0);
      const t0 = performance.now();
      await send(o);
      samples.push(performance.now() - t0);
    }
    const batch = Array.from({ length: throughputOrders }, (_, i) => build(i % ptys.length));
    const pids = [gateway.pid!, devices.pid!, ...ptys.map((p) => p.pid!)];
    const before = procUsage(gateway.pid!);
    const cpu0 = snapshot(pids);
    const t0 = performance.now();
    await closedLoop(batch.length, (i) => send(batch[i]!));
    const elapsed = performance.now() - t0;
    const cpu = rigCpu(cpu0, snapshot(pids), throughputOrders);
    const after = procUsage(gateway.pid!);
    return {
      latency: summarize(samples),
      throughputPerSec: throughputOrders / (elapsed / 1000),
      cpuMsPerOrder: (after.cpuMs - before.cpuMs) / throughputOrders,
      peakRssMb: after.peakRssMb,
      cpu,
    };
  } finally {
    await platform?.close();
    await listener?.endAsync(true);
    gateway.kill('SIGTERM');
    await Promise.race([once(gateway, 'exit'), new Promise((r) => setTimeout(r, 5000))]);
    gateway.kill('SIGKILL');
    await stopDevices(devices);
  }
}

/**
 * Closed-loop load: at most THROUGHPUT_WINDOW requests outstanding, a new one
 * sent as each completes, as a platform feeding a site does (with 20
 * machines, 50 queued per machine, enough that none ever idles). A burst of
 * every order at once would measure how much a broker and a gateway can
 * queue, not a sustained rate.
 */
const THROUGHPUT_WINDOW = 1000;

async function closedLoop(count: number, request: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await request(next++);
  };
  await Promise.all(Array.from({ length: Math.min(THROUGHPUT_WINDOW, count) }, lane));
}

async function connectWithRetry(url: string): Promise<MqttClient> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await connectMqttAsync(url, { reconnectPeriod: 0, connectTimeout: 2000 });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
