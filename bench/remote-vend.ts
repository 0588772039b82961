import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { connectMqttAsync } from '../contract/mqtt-client.ts';
import { generateRawKeyPair } from '../contract/signing.ts';
import { gatewayTopics } from '../contract/topics.ts';
import { SimPlatform } from '../firmware-sim/platform/platform.ts';
import { createPtyPair, type PtyPair } from '../firmware-sim/pty.ts';
import { loadGatewayKey } from '../gateway/link/gateway-key.ts';
import { freePort } from '../testing/ports.ts';
import { tempDir } from '../testing/tmp.ts';
import { waitUntil } from '../testing/wait.ts';
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
  /** The gateway process (bare: the relay process, with its broker). */
  gateway: number;
  /** The simulated boards (bare: the echo devices), one process. */
  devices: number;
  /** The socat processes making the pty pairs. */
  socat: number;
  /** This process: the simulated platform and listener (bare: the publisher and subscriber). */
  loadGenerator: number;
  total: number;
}

/**
 * The targets, as ratios to the bare rig of the same run (a shared VM swings
 * by 30-50% between runs; ratios of interleaved rigs do not): with signed
 * commands, acks and events, the gateway keeps at least this share of the
 * bare throughput, at most this multiple of its p99, and spends at most this
 * multiple of the bare relay's CPU per round trip.
 */
export const REMOTE_VEND_TARGETS = {
  throughputRatio: { atLeast: 0.35 },
  p99Ratio: { atMost: 1.5 },
  cpuRatio: { atMost: 5 },
} as const;

/** Each target's measured ratio and whether it was met. */
export function remoteVendRatios(r: RemoteVendBenchResult) {
  const t = REMOTE_VEND_TARGETS;
  const cpuRatio = r.gateway.cpuMsPerOrder / r.bare.cpu.gateway;
  return [
    {
      name: 'throughput, gateway / bare',
      ratio: r.throughputRatio,
      target: `>= ${t.throughputRatio.atLeast}`,
      met: r.throughputRatio >= t.throughputRatio.atLeast,
    },
    {
      name: 'p99 latency, gateway / bare',
      ratio: r.latencyRatioP99,
      target: `<= ${t.p99Ratio.atMost}`,
      met: r.latencyRatioP99 <= t.p99Ratio.atMost,
    },
    {
      name: 'CPU per order, gateway / bare relay',
      ratio: cpuRatio,
      target: `<= ${t.cpuRatio.atMost}`,
      met: cpuRatio <= t.cpuRatio.atMost,
    },
  ];
}

/** The lines `npm run bench -- remote-vend` prints for the targets. */
export function formatRemoteVendTargets(r: RemoteVendBenchResult): string {
  return [
    'targets (ratios to the bare rig of this run; commands, acks and events all signed):',
    ...remoteVendRatios(r).map(
      (x) =>
        `  ${x.name.padEnd(38)} ${x.ratio.toFixed(2).padStart(6)}  target ${x.target.padEnd(7)} ${x.met ? 'met' : 'MISSED'}`,
    ),
  ].join('\n');
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

/**
 * The gateway runs as in production: the esbuild bundle on plain node
 * (`npm run bench` builds it first), falling back to the sources via tsx.
 */
const GATEWAY_ENTRY =
  process.env.BENCH_GATEWAY_ENTRY ??
  (existsSync('dist/vendgate.mjs') ? 'dist/vendgate.mjs' : 'bin/vendgate.js');

/** An event as the bench's listener reads it (the simulated platform verifies; this only reads). */
interface BenchEvent {
  type: string;
  data: { orderId?: string; code?: number; reason?: string };
}

/** The events that end an order of this bench, or say why it did not end. */
const WATCHED_EVENTS = new Set([
  'vend.succeeded',
  'vend.failed',
  'refund.requested',
  'order.unresolved',
  'command.rejected',
  'command.deferred',
  'command.suppressed',
]);

export interface Rig {
  /**
   * Builds one request to `machine` (signing it, for the gateway) outside
   * the timed span; calling the result sends it and resolves when its
   * response is back.
   */
  prepare(machine: number): () => Promise<void>;
  /** gateway-ish process first, devices second, then the socat processes. */
  pids: number[];
  /** Answers other than success seen so far (refusals, deferrals, failed vends), the last 20 of them. */
  problems?(): { count: number; last: string[] };
  close(): Promise<void>;
}

/**
 * Remote vend, measured end to end on real transports and compared in the
 * same run with the bare transport:
 *
 * - bare: MQTT publish -> relay -> pty write -> (device echoes) -> pty read
 *   -> MQTT publish -> original publisher. No ledger, no protocol.
 * - gateway: signed order.paid -> gateway process (guard, ledger on disk,
 *   outbox) -> DISPENSE frame on the pty -> simulated board -> result frame
 *   -> vend.succeeded at the platform.
 *
 * Both rigs have the same shape: the load generator (this process) talks
 * MQTT over loopback TCP to a broker embedded in a second process (the
 * gateway; for bare, the relay process), which reaches its serial ports
 * through socat ptys to a third process (boards; for bare, echo devices).
 * Board motor time is 0, so the difference is the gateway's own cost (plus
 * the slot-board protocol's acks).
 *
 * Both rigs run side by side. Latency samples alternate between them one
 * request at a time (only one request in flight on the machine), so a VM
 * that slows down for a while slows both sides alike; the throughput runs
 * come one after the other.
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
  let bare: Rig | undefined;
  let gateway: (Rig & { peakRssMb(): number }) | undefined;
  try {
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
    if (!opts.gatewayOnly) bare = await startBareRig(await makePtys('bare-'));
    gateway = await startGatewayRig(tmp.dir, await makePtys(''));

    const bareSamples: number[] = [];
    const gatewaySamples: number[] = [];
    const timed = async (rig: Rig, samples: number[]) => {
      const request = rig.prepare(0);
      const t0 = performance.now();
      await request();
      samples.push(performance.now() - t0);
    };
    for (let i = 0; i < 30; i++) {
      if (bare) await bare.prepare(0)();
      await gateway.prepare(0)();
    }
    for (let i = 0; i < latencyOrders; i++) {
      // Alternate which rig goes first, so neither always follows the other.
      if (bare && i % 2 === 0) await timed(bare, bareSamples);
      await timed(gateway, gatewaySamples);
      if (bare && i % 2 === 1) await timed(bare, bareSamples);
    }

    const bareRun = bare ? await throughput(bare, machines, throughputOrders) : undefined;
    const gatewayRun = await throughput(gateway, machines, throughputOrders);
    const bareResult = {
      latency: summarize(bare ? bareSamples : [0]),
      throughputPerSec: bareRun?.perSec ?? 0,
      cpu: bareRun?.cpu ?? rigCpu([], [], 1),
    };
    const gw = {
      latency: summarize(gatewaySamples),
      throughputPerSec: gatewayRun.perSec,
      cpuMsPerOrder: gatewayRun.cpu.gateway,
      peakRssMb: gateway.peakRssMb(),
      cpu: gatewayRun.cpu,
    };
    return {
      machines,
      bare: bareResult,
      gateway: gw,
      addedP50Ms: gw.latency.p50 - bareResult.latency.p50,
      addedP99Ms: gw.latency.p99 - bareResult.latency.p99,
      latencyRatioP99: gw.latency.p99 / bareResult.latency.p99,
      throughputRatio: gw.throughputPerSec / bareResult.throughputPerSec,
    };
  } finally {
    await gateway?.close().catch(() => {});
    await bare?.close().catch(() => {});
    await Promise.all(ptys.map((p) => p.close().catch(() => {})));
    tmp.cleanup();
  }
}

/** A closed-loop run over every machine; CPU per request of each process in the rig. */
export async function throughput(rig: Rig, machines: number, count: number) {
  const requests = Array.from({ length: count }, (_, i) => rig.prepare(i % machines));
  let completed = 0;
  const cpu0 = snapshot(rig.pids);
  const t0 = performance.now();
  await unlessStalled(
    closedLoop(count, async (i) => {
      await requests[i]!();
      completed++;
    }),
    () => completed,
    count,
    rig,
  );
  const perSec = count / ((performance.now() - t0) / 1000);
  return { perSec, cpu: rigCpu(cpu0, snapshot(rig.pids), count) };
}

/** No order completed for this long: the run failed (an order refused, deferred or lost). */
const STALL_MS = 30_000;

/** `run`, or an error naming what the gateway answered when no order completed for STALL_MS. */
async function unlessStalled(run: Promise<void>, completed: () => number, count: number, rig: Rig) {
  let last = -1;
  let since = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      const now = performance.now();
      if (completed() !== last) {
        last = completed();
        since = now;
      } else if (now - since > STALL_MS) {
        const p = rig.problems?.();
        reject(
          new Error(
            `the throughput run stalled at ${last} of ${count} orders (none completed for ${STALL_MS / 1000} s); ` +
              `${p?.count ?? 0} answers other than success, the last: ${JSON.stringify(p?.last ?? [])}`,
          ),
        );
      }
    }, 1000);
  });
  try {
    await Promise.race([run, stalled]);
  } finally {
    clearInterval(timer);
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

/** Spawns a bench helper under tsx and waits for its first stdout line that `ready` accepts. */
async function spawnHelper<T>(script: string, args: string[], ready: (line: string) => T | undefined) {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const value = await new Promise<T>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of out.split('\n')) {
        const v = ready(line);
        if (v !== undefined) resolve(v);
      }
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return { child, value };
}

async function startDevices(
  kind: 'echo' | 'board',
  ptys: PtyPair[],
  sensorsEveryMs?: number,
): Promise<ChildProcess> {
  const args = ptys.flatMap((p) => [`--${kind}`, p.devicePath]);
  if (sensorsEveryMs) args.push('--sensors-every', String(sensorsEveryMs));
  const { child } = await spawnHelper('bench/boards-process.ts', args, (l) =>
    l.includes('ready') ? true : undefined,
  );
  return child;
}

async function stopHelper(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.stdin?.end();
  await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
  child.kill('SIGKILL');
}

async function startBareRig(ptys: PtyPair[]): Promise<Rig> {
  const devices = await startDevices('echo', ptys);
  const started: ChildProcess[] = [devices];
  let client: MqttClient | undefined;
  const close = async () => {
    await client?.endAsync(true);
    for (const child of started.reverse()) await stopHelper(child);
  };
  try {
    const { child: relay, value: brokerPort } = await spawnHelper(
      'bench/bare-relay-process.ts',
      ptys.flatMap((p) => ['--port', p.hostPath]),
      (line) => {
        try {
          return (JSON.parse(line) as { brokerPort?: number }).brokerPort;
        } catch {
          return undefined;
        }
      },
    );
    started.push(relay);
    client = await connectMqttAsync(`mqtt://127.0.0.1:${brokerPort}`, { clientId: 'bare-platform' });
    await client.subscribeAsync('bench/bare/+/res', { qos: 1 });
    return bareRig(client, relay, devices, ptys, close);
  } catch (err) {
    await close();
    throw err;
  }
}

function bareRig(
  client: MqttClient,
  relay: ChildProcess,
  devices: ChildProcess,
  ptys: PtyPair[],
  close: () => Promise<void>,
): Rig {
  const waiting = new Map<string, () => void>();
  client.on('message', (_t, payload) => {
    const id = payload.subarray(0, 8).toString('hex');
    waiting.get(id)?.();
    waiting.delete(id);
  });
  let seq = 0;
  return {
    prepare: (machine) => {
      const id = Buffer.alloc(8);
      id.writeUInt32BE(++seq, 4);
      const key = id.toString('hex');
      return () => {
        const done = new Promise<void>((resolve) => waiting.set(key, resolve));
        client.publish(`bench/bare/${machine}/req`, id, { qos: 1 });
        return done;
      };
    },
    pids: [relay.pid!, devices.pid!, ...ptys.map((p) => p.pid!)],
    close,
  };
}

/** Where the gateway rig's platform link runs. */
export interface GatewayRigOptions {
  gatewayId?: string;
  /**
   * The operator's broker, reached over `uplink.url` (mqtt:// or mqtts://
   * with the client certificate files in `tls`); the simulated platform
   * connects to it on `platformUrl`. Default: no uplink, the platform link
   * runs on the gateway's embedded broker and the platform connects to it.
   */
  uplink?: { url: string; platformUrl: string; tls?: { ca: string; cert: string; key: string } };
  /** The REST API and dashboard on this loopback port; default off. */
  httpPort?: number;
  /** Every board reports a new cabinet temperature (SENSORS) this often; default never. */
  sensorsEveryMs?: number;
}

export type GatewayRig = Rig & { peakRssMb(): number };

export async function startGatewayRig(
  dir: string,
  ptys: PtyPair[],
  opts: GatewayRigOptions = {},
): Promise<GatewayRig> {
  const devices = await startDevices('board', ptys, opts.sensorsEveryMs);
  const keys = generateRawKeyPair();
  const gatewayId = opts.gatewayId ?? 'bench';
  const dataDir = join(dir, gatewayId);
  const gatewayKey = loadGatewayKey({ dataDir });
  const port = await freePort();
  const configPath = join(dataDir, 'vendgate.yaml');
  writeFileSync(
    configPath,
    stringify({
      gatewayId,
      dataDir,
      log: { level: (process.env.BENCH_GATEWAY_LOG as 'warn') ?? 'warn' },
      broker: { embedded: { port } },
      ...(opts.uplink
        ? { uplink: { url: opts.uplink.url, ...(opts.uplink.tls ? { tls: opts.uplink.tls } : {}) } }
        : {}),
      platform: { publicKeys: { default: keys.publicKey } },
      http: opts.httpPort ? { enabled: true, port: opts.httpPort } : { enabled: false },
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
  const url = opts.uplink?.platformUrl ?? `mqtt://127.0.0.1:${port}`;
  const topics = gatewayTopics(gatewayId);
  let platform: SimPlatform | undefined;
  let listener: MqttClient | undefined;
  const problems: string[] = [];
  let problemCount = 0;
  const close = async () => {
    await platform?.close();
    await listener?.endAsync(true);
    gateway.kill('SIGTERM');
    await Promise.race([once(gateway, 'exit'), new Promise((r) => setTimeout(r, 5000))]);
    gateway.kill('SIGKILL');
    await stopHelper(devices);
  };
  try {
    listener = await connectWithRetry(url);
    const results = new Map<string, () => void>();
    let online = false;
    listener.on('message', (topic, payload) => {
      // Everything the gateway publishes is signed ({body, sig, keyId}); the
      // simulated platform verifies it, this listener only reads the body.
      const body = (JSON.parse(payload.toString()) as { body: string }).body;
      if (topic === topics.status) {
        online = (JSON.parse(body) as { state: string }).state === 'online';
        return;
      }
      if (topic === topics.eventBatch) {
        // The gateway's signed batches (contract/event-batch.ts): the same envelopes, many a message.
        for (const env of (JSON.parse(body) as { events: BenchEvent[] }).events)
          if (WATCHED_EVENTS.has(env.type)) onOutcome(env);
        return;
      }
      onOutcome(JSON.parse(body) as BenchEvent);
    });
    const onOutcome = (env: BenchEvent) => {
      if (env.type !== 'vend.succeeded') {
        // Not what an order of this bench should get: kept, so a run that
        // stalls says why instead of waiting for ever (see throughput()).
        problems.push(`${env.type}${env.data.code ? ` ${env.data.code}` : ''}: ${env.data.reason ?? ''}`);
        if (problems.length > 20) problems.shift();
        problemCount++;
      }
      if (env.data.orderId === undefined || env.type === 'vend.failed') return;
      results.get(env.data.orderId)?.();
      results.delete(env.data.orderId);
    };
    // Per-event topics for a gateway set to eventBatching: false (or built before batches).
    await listener.subscribeAsync(
      [topics.status, topics.eventBatch, ...[...WATCHED_EVENTS].map((t) => topics.event(t))],
      { qos: 1 },
    );
    await waitUntil(() => online, { timeoutMs: 30_000, what: 'the gateway online', everyMs: 50 });
    await new Promise((r) => setTimeout(r, 1000)); // let every board come online
    const signer = new SimPlatform({
      brokerUrl: url,
      gatewayId,
      privateKey: keys.privateKey,
      // Pinned, as a real platform does: made here in the gateway's data dir before it starts.
      gatewayPublicKey: gatewayKey.publicKey,
      // Every ack costs the gateway an Ed25519 check now: ack every 20 ms
      // (the simulated platform's default) rather than every 5. Acks only
      // free outbox rows; no order waits for one (docs/contract.md).
      ackIntervalMs: 20,
      adoptFirstSeq: true,
    });
    platform = signer;
    await signer.connect();
    const sender = listener;
    let n = 0;
    return {
      prepare: (machine) => {
        const orderId = `bench-${++n}`;
        const cmd = signer.buildCommand(
          'order.paid',
          {
            orderId,
            machineId: `m${machine + 1}`,
            slot: 1 + (n % 6),
            price: { amount: 350, currency: 'CNY' },
            provider: 'wechat',
            expiresAt: Date.now() + 3600_000,
          },
          {
            // Every order of a throughput run is signed before the run starts
            // (outside the timed span); with the default 60 s of command life
            // the last of 10,000 expired (4003) on a loaded box before they
            // were sent.
            commandExpiresAt: Date.now() + 15 * 60_000,
          },
        );
        return () => {
          const done = new Promise<void>((resolve) => results.set(orderId, resolve));
          sender.publish(cmd.topic, cmd.payload, { qos: 1 });
          return done;
        };
      },
      pids: [gateway.pid!, devices.pid!, ...ptys.map((p) => p.pid!)],
      problems: () => ({ count: problemCount, last: [...problems] }),
      peakRssMb: () => procUsage(gateway.pid!).peakRssMb,
      close,
    };
  } catch (err) {
    await close();
    throw err;
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
