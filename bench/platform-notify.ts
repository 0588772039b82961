/**
 * Provider notification -> signed `order.paid` at the gateway (issue #11).
 *
 * Latency, embedded SQLite: the platform service as its own process (the
 * store embedded in it) with a WeChat Pay provider from the adapter's
 * fixtures; real notifications (RSA-SHA256 signed, AEAD_AES_256_GCM
 * encrypted resource) posted from this process, the load generator, to
 * `POST /notify/wechat` over keep-alive HTTP at a bounded concurrency; an
 * MQTT subscriber here playing the gateways records when each
 * `cmd/order.paid` arrives. Beside it, in the same run, the bare baselines:
 * the same fastify stack answering 204 with no work, in its own process as
 * the platform is, and the same subscriber receiving a publish of the same
 * size from a bare publisher here.
 *
 * Throughput, PostgreSQL: orders spread over 500 gateway ids, one replica
 * then two (each its own process, one PostgreSQL, one Mosquitto, one shared
 * subscription group), paid/s, CPU per notification of each replica, and
 * every order paid exactly once (order.paid commands counted per order).
 *
 *   npm run bench -- platform-notify
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MqttClient } from 'mqtt';
import pg from 'pg';
import { connectMqttAsync } from '../contract/mqtt-client.ts';
import { gatewayTopics, TOPIC_ROOT } from '../contract/topics.ts';
import {
  documentedTransaction,
  notificationBody,
  signedHeaders,
  testKeys,
} from '../platform/providers/wechatpay/test-fixtures.ts';
import type { OrderCreate, Store } from '../platform/store/port.ts';
import { openStore } from '../platform/store/store.ts';
import { postgresAvailable, startPostgres } from '../testing/postgres.ts';
import { tempDir } from '../testing/tmp.ts';
import { waitUntil } from '../testing/wait.ts';
import { startMosquitto } from './platform-ingest.ts';
import { type BenchPlatformSpec, benchOrders } from './platform-notify-service.ts';
import { fmt, procUsage, summarize } from './stats.ts';

const TARGET_P99_MS = 10;
const TARGET_PAID_PER_SEC = 2000;
const TARGET_REPLICA_RATIO = 1.7;
const LATENCY_ORDERS = 1500;
const LATENCY_CONCURRENCY = 4;
/**
 * Notifications each server of the latency run (bare fastify, platform) answers before it is
 * measured. Each is its own process, so none inherits a warm HTTP stack from the other; with 200
 * the platform's first 1,500 still ran partly unoptimized (1.1-1.5 ms CPU each against 0.8-1.05).
 */
const LATENCY_WARMUP = 1500;
/** The platform's warm-up alone, overridable (BENCH_NOTIFY_PLATFORM_WARMUP) to see when its JIT settles. */
const PLATFORM_WARMUP = Number(process.env.BENCH_NOTIFY_PLATFORM_WARMUP ?? LATENCY_WARMUP);
const THROUGHPUT_GATEWAYS = 500;
const THROUGHPUT_ORDERS = 3000;
const THROUGHPUT_CONCURRENCY = 64;
/**
 * Connections per replica (store.poolSize): enough for the notifications in flight to commit
 * together (BENCH_PG_POOL overrides it: 8 cost PostgreSQL about twice the CPU per notification,
 * fewer commits sharing a WAL flush; 64 was no better than 32).
 */
const PG_POOL = Number(process.env.BENCH_PG_POOL ?? 32);
const HERE = fileURLToPath(new URL('.', import.meta.url));
const REPLICA = join(HERE, 'platform-notify-replica.ts');
const BARE_HTTP = join(HERE, 'platform-notify-bare.ts');

type Summary = ReturnType<typeof summarize>;

interface Notification {
  orderId: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** A notification for each order as WeChat Pay sends it: encrypted resource, signed over the body. */
function notificationsFor(orders: readonly OrderCreate[]): Notification[] {
  const nowSec = Math.floor(Date.now() / 1000);
  return orders.map((o) => {
    const body = notificationBody(
      'TRANSACTION.SUCCESS',
      documentedTransaction({
        out_trade_no: o.outTradeNo,
        transaction_id: `42${o.outTradeNo}`,
        amount: { total: o.amount, payer_total: o.amount, currency: 'CNY', payer_currency: 'CNY' },
      }),
      { nonce: randomBytes(6).toString('hex') },
    );
    return {
      orderId: o.outTradeNo,
      body: Buffer.from(body),
      headers: {
        ...signedHeaders(body, { timestampSec: nowSec, nonce: randomBytes(16).toString('hex') }),
        'content-type': 'application/json',
      },
    };
  });
}

/** The gateways' side: one subscriber to every gateway's order.paid, counting each order's commands. */
async function gatewaySubscriber(brokerUrl: string) {
  const client = await connectMqttAsync(brokerUrl, {
    clientId: `bench-gw-${randomUUID().slice(0, 8)}`,
    protocolVersion: 5,
  });
  const arrivedAt = new Map<string, number>();
  const count = new Map<string, number>();
  client.on('message', (_topic, payload) => {
    const now = performance.now();
    const signed = JSON.parse(payload.toString('utf8')) as { body: string };
    const orderId = (JSON.parse(signed.body) as { data: { orderId: string } }).data.orderId;
    if (!arrivedAt.has(orderId)) arrivedAt.set(orderId, now);
    count.set(orderId, (count.get(orderId) ?? 0) + 1);
  });
  await client.subscribeAsync(`${TOPIC_ROOT}/+/cmd/order.paid`, { qos: 1 });
  return { client, arrivedAt, count, stop: () => client.endAsync(true) };
}

function post(agent: Agent, url: URL, n: Notification): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: '/notify/wechat',
        method: 'POST',
        headers: { ...n.headers, 'content-length': String(n.body.length) },
      },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.once('error', reject);
    req.end(n.body);
  });
}

interface LoadResult {
  seconds: number;
  sentAt: Map<string, number>;
  httpMs: number[];
  statuses: Map<number, number>;
  /** Notifications posted to each target, in the order of `targets`. */
  perTarget: number[];
}

/**
 * Posts every notification, at most `concurrency` in flight, round robin over `targets`: item i
 * goes to target i % targets whichever worker takes it, so each target gets an equal share (a
 * target picked by worker and item together, (w + i), kept one parity and split 3,000 as
 * 1,936 / 1,064).
 */
async function fire(targets: readonly string[], items: readonly Notification[], concurrency: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const urls = targets.map((t) => new URL(t));
  const sentAt = new Map<string, number>();
  const httpMs: number[] = [];
  const statuses = new Map<number, number>();
  const perTarget = urls.map(() => 0);
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      const n = items[i]!;
      const at = performance.now();
      sentAt.set(n.orderId, at);
      perTarget[i % urls.length]!++;
      const status = await post(agent, urls[i % urls.length]!, n);
      httpMs.push(performance.now() - at);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  agent.destroy();
  return {
    seconds: (performance.now() - t0) / 1000,
    sentAt,
    httpMs,
    statuses,
    perTarget,
  } satisfies LoadResult;
}

/** The bare MQTT leg: a publisher sends an order.paid-sized payload, the subscriber records its arrival. */
async function bareMqtt(brokerUrl: string, count: number, concurrency: number): Promise<number[]> {
  const sub = await gatewaySubscriber(brokerUrl);
  const pub: MqttClient = await connectMqttAsync(brokerUrl, {
    clientId: `bench-bare-pub-${randomUUID().slice(0, 8)}`,
    protocolVersion: 5,
  });
  const pad = 'x'.repeat(420); // a signed order.paid is about this size
  const latencies: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const orderId = `bare${next++}`;
      const body = JSON.stringify({ data: { orderId }, pad });
      const at = performance.now();
      await pub.publishAsync(
        gatewayTopics('bare-gw').command('order.paid'),
        JSON.stringify({ body, sig: '', keyId: 'x' }),
        { qos: 1 },
      );
      await waitUntil(() => sub.arrivedAt.has(orderId), {
        timeoutMs: 10_000,
        what: 'a bare publish',
        everyMs: 0,
      });
      latencies.push(sub.arrivedAt.get(orderId)! - at);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  await pub.endAsync(true);
  await sub.stop();
  return latencies;
}

/** Waits for every order's order.paid, then a little more to catch a second one. */
async function settleCommands(
  sub: Awaited<ReturnType<typeof gatewaySubscriber>>,
  orders: readonly OrderCreate[],
  what: string,
) {
  await waitUntil(() => orders.every((o) => sub.arrivedAt.has(o.outTradeNo)), {
    timeoutMs: 120_000,
    what: `${what}: every order.paid`,
    everyMs: 20,
  }).catch(() => {});
  await new Promise((r) => setTimeout(r, 500));
  let lost = 0;
  let doubled = 0;
  for (const o of orders) {
    const n = sub.count.get(o.outTradeNo) ?? 0;
    if (n === 0) lost++;
    if (n > 1) doubled++;
  }
  return { lost, doubled };
}

export interface NotifyLatencyResult {
  orders: number;
  concurrency: number;
  bareHttpMs: Summary;
  bareMqttMs: Summary;
  /** notification sent -> order.paid received at the gateway. */
  notifyToPaidMs: Summary;
  /** notification sent -> the provider's answer. */
  httpAnswerMs: Summary;
  paidPerSec: number;
  lost: number;
  doubled: number;
  /** The platform process's CPU ms per notification (HTTP, verify, store, signing, publish). */
  cpuMsPerNotification: number;
  /** This process's CPU ms per notification: the HTTP load and the gateways' subscriber. */
  loadGeneratorCpuMsPerNotification: number;
  /** Mosquitto's CPU ms per notification. */
  brokerCpuMsPerNotification: number;
  /** The bare fastify process's CPU ms per request (its run of the same notifications). */
  bareHttpCpuMsPerRequest: number;
  /** The platform process's peak RSS. */
  peakRssMb: number;
}

export interface ReplicaRun {
  replicas: number;
  orders: number;
  seconds: number;
  paidPerSec: number;
  notifyToPaidMs: Summary;
  httpAnswerMs: Summary;
  non2xx: number;
  lost: number;
  doubled: number;
  /** Notifications posted to each replica. */
  sentToEach: number[];
  /** CPU ms per notification of each replica process (over the notifications posted to it). */
  cpuMsPerNotification: number[];
  /** Sum over replicas of CPU ms, per notification. */
  totalCpuMsPerNotification: number;
  /** The PostgreSQL server's CPU ms (postmaster and its backends) per notification. */
  postgresCpuMsPerNotification: number;
  /** Mosquitto's CPU ms per notification (the order.paid publishes in and out, the subscriber's). */
  brokerCpuMsPerNotification: number;
  /** This process's CPU ms per notification: the HTTP load and the gateways' subscriber. */
  loadGeneratorCpuMsPerNotification: number;
  peakRssMb: number[];
}

export interface PlatformNotifyResult {
  latency: NotifyLatencyResult | undefined;
  throughput: { gateways: number; concurrency: number; runs: ReplicaRun[] } | undefined;
}

function latencies(sentAt: Map<string, number>, arrivedAt: Map<string, number>): number[] {
  const out: number[] = [];
  for (const [id, at] of sentAt) {
    const got = arrivedAt.get(id);
    if (got !== undefined) out.push(got - at);
  }
  return out;
}

/** Stops a child process of the rig with SIGTERM and waits for it to exit. */
function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function latencyRun(
  broker: { url: string; pid: number | undefined },
  dir: string,
): Promise<NotifyLatencyResult> {
  const brokerUrl = broker.url;
  const keys = testKeys();
  // Warm-up and baselines first, on the same broker and the same kind of HTTP client; the bare
  // server is its own process, as the platform is below.
  const bare = await startChild(BARE_HTTP, []);
  const orders = benchOrders(randomBytes(3).toString('hex'), LATENCY_ORDERS, 50, Date.now());
  const items = notificationsFor(orders);
  let bareHttpRun: LoadResult;
  let bareCpuMs: number;
  try {
    const warm = notificationsFor(benchOrders('w', LATENCY_WARMUP, 1, Date.now()));
    await fire([bare.url], warm, LATENCY_CONCURRENCY);
    const bareCpu0 = procUsage(bare.child.pid!).cpuMs;
    bareHttpRun = await fire([bare.url], items, LATENCY_CONCURRENCY);
    bareCpuMs = procUsage(bare.child.pid!).cpuMs - bareCpu0;
  } finally {
    await stopChild(bare.child);
  }
  const bareMqttMs = await bareMqtt(brokerUrl, LATENCY_ORDERS, LATENCY_CONCURRENCY);

  // The orders, warm-up's and measured, are written before the platform opens the file, so no
  // second process writes to it during the run.
  const sqlitePath = join(dir, 'notify.db');
  const warmOrders = benchOrders(randomBytes(3).toString('hex'), PLATFORM_WARMUP, 10, Date.now());
  const store = await openStore({ backend: 'sqlite', sqlitePath, payerHashKey: Buffer.alloc(32, 7) });
  try {
    for (const o of [...warmOrders, ...orders]) await store.orders.create(o);
  } finally {
    await store.close();
  }
  const spec: BenchPlatformSpec = {
    dataDir: dir,
    backend: 'sqlite',
    sqlitePath,
    brokerUrl,
    merchantPrivatePem: keys.merchantPrivatePem,
    platformPublicPem: keys.platformPublicPem,
    platformSerial: keys.platformSerial,
  };
  const specPath = join(dir, 'latency-spec.json');
  writeFileSync(specPath, JSON.stringify(spec));
  const platform = await startChild(REPLICA, [specPath]);
  const sub = await gatewaySubscriber(brokerUrl).catch(async (err: unknown) => {
    await stopChild(platform.child);
    throw err;
  });
  try {
    // Warm the platform's paths (JIT, statement caches) on orders not measured.
    await fire([platform.url], notificationsFor(warmOrders), LATENCY_CONCURRENCY);
    await profileSignal(platform.child, 'profiling');
    const cpu0 = procUsage(platform.child.pid!).cpuMs;
    const broker0 = broker.pid ? procUsage(broker.pid).cpuMs : Number.NaN;
    const self0 = process.cpuUsage();
    const run = await fire([platform.url], items, LATENCY_CONCURRENCY);
    const { lost, doubled } = await settleCommands(sub, orders, 'latency run');
    const usage = procUsage(platform.child.pid!);
    const brokerMs = broker.pid ? procUsage(broker.pid).cpuMs - broker0 : Number.NaN;
    const self = process.cpuUsage(self0);
    await profileSignal(platform.child, 'profiled');
    return {
      orders: LATENCY_ORDERS,
      concurrency: LATENCY_CONCURRENCY,
      bareHttpMs: summarize(bareHttpRun.httpMs),
      bareMqttMs: summarize(bareMqttMs),
      notifyToPaidMs: summarize(latencies(run.sentAt, sub.arrivedAt)),
      httpAnswerMs: summarize(run.httpMs),
      paidPerSec: LATENCY_ORDERS / run.seconds,
      lost,
      doubled,
      cpuMsPerNotification: (usage.cpuMs - cpu0) / LATENCY_ORDERS,
      loadGeneratorCpuMsPerNotification: (self.user + self.system) / 1000 / LATENCY_ORDERS,
      brokerCpuMsPerNotification: brokerMs / LATENCY_ORDERS,
      bareHttpCpuMsPerRequest: bareCpuMs / LATENCY_ORDERS,
      peakRssMb: usage.peakRssMb,
    };
  } finally {
    await sub.stop();
    await stopChild(platform.child);
  }
}

/**
 * With BENCH_REPLICA_PROFILE set, toggles the latency run's platform's steady-state CPU profile
 * (platform-notify-replica.ts) and waits for its acknowledging line; otherwise does nothing.
 */
async function profileSignal(child: ChildProcess, line: string): Promise<void> {
  if (!process.env.BENCH_REPLICA_PROFILE) return;
  const seen = new Promise<void>((resolve) => {
    const onData = (c: Buffer | string) => {
      if (String(c).includes(line)) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
  });
  child.kill('SIGUSR2');
  await seen;
}

/** Starts a bench script as its own process and waits for its `ready <url>` line. */
async function startChild(script: string, args: string[]): Promise<{ child: ChildProcess; url: string }> {
  // BENCH_REPLICA_NODE_ARGS: node options for each platform process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs =
    script === REPLICA ? (process.env.BENCH_REPLICA_NODE_ARGS ?? '').split(' ').filter((a) => a !== '') : [];
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const m = /ready (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before it was ready`)));
  });
  return { child, url };
}

/** CPU ms so far of the PostgreSQL postmaster and each of its children (backends, writers), by pid. */
function postgresCpu(postmasterPid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pid = Number(entry);
    // ppid is field 4 of stat; utime and stime 14 and 15, in clock ticks (100 Hz).
    if (pid !== postmasterPid && Number(fields[1]) !== postmasterPid) continue;
    out.set(pid, (Number(fields[11]) + Number(fields[12])) * 10);
  }
  return out;
}

/** The server's data directory, where postmaster.pid names the postmaster. */
async function postgresDataDir(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query<{ data_directory: string }>('SHOW data_directory');
    return r.rows[0]!.data_directory;
  } finally {
    await client.end();
  }
}

function cpuSince(before: Map<number, number>, after: Map<number, number>): number {
  let ms = 0;
  for (const [pid, cpu] of after) ms += cpu - (before.get(pid) ?? 0);
  return ms;
}

async function replicaRun(
  replicas: number,
  spec: BenchPlatformSpec,
  store: Store,
  broker: { url: string; pid: number | undefined },
  postmasterPid: number,
): Promise<ReplicaRun> {
  const brokerUrl = broker.url;
  const specPath = join(spec.dataDir, `replica-spec-${replicas}.json`);
  writeFileSync(specPath, JSON.stringify(spec));
  const started = await Promise.all(Array.from({ length: replicas }, () => startChild(REPLICA, [specPath])));
  const sub = await gatewaySubscriber(brokerUrl);
  try {
    const urls = started.map((s) => s.url);
    const warmOrders = benchOrders(randomBytes(3).toString('hex'), 300, 50, Date.now());
    for (const o of warmOrders) await store.orders.create(o);
    await fire(urls, notificationsFor(warmOrders), THROUGHPUT_CONCURRENCY);
    const orders = benchOrders(
      randomBytes(3).toString('hex'),
      THROUGHPUT_ORDERS,
      THROUGHPUT_GATEWAYS,
      Date.now(),
    );
    for (const o of orders) await store.orders.create(o);
    const items = notificationsFor(orders);
    const cpu0 = started.map((s) => procUsage(s.child.pid!).cpuMs);
    const pg0 = postgresCpu(postmasterPid);
    const broker0 = broker.pid ? procUsage(broker.pid).cpuMs : Number.NaN;
    const self0 = process.cpuUsage();
    const t0 = performance.now();
    const run = await fire(urls, items, THROUGHPUT_CONCURRENCY);
    const { lost, doubled } = await settleCommands(sub, orders, `${replicas} replica(s)`);
    // Throughput is to the last order.paid received (the wait above includes a 500 ms tail: excluded).
    const lastArrival = Math.max(...orders.map((o) => sub.arrivedAt.get(o.outTradeNo) ?? 0));
    const seconds = (Math.max(lastArrival, t0 + run.seconds * 1000) - t0) / 1000;
    const usage = started.map((s) => procUsage(s.child.pid!));
    const pgMs = cpuSince(pg0, postgresCpu(postmasterPid));
    const brokerMs = broker.pid ? procUsage(broker.pid).cpuMs - broker0 : Number.NaN;
    const self = process.cpuUsage(self0);
    let non2xx = 0;
    for (const [status, n] of run.statuses) if (status < 200 || status > 299) non2xx += n;
    return {
      replicas,
      orders: THROUGHPUT_ORDERS,
      seconds,
      paidPerSec: (THROUGHPUT_ORDERS - lost) / seconds,
      notifyToPaidMs: summarize(latencies(run.sentAt, sub.arrivedAt)),
      httpAnswerMs: summarize(run.httpMs),
      non2xx,
      lost,
      doubled,
      sentToEach: run.perTarget,
      cpuMsPerNotification: usage.map((u, i) => (u.cpuMs - cpu0[i]!) / run.perTarget[i]!),
      totalCpuMsPerNotification:
        usage.reduce((sum, u, i) => sum + (u.cpuMs - cpu0[i]!), 0) / THROUGHPUT_ORDERS,
      postgresCpuMsPerNotification: pgMs / THROUGHPUT_ORDERS,
      brokerCpuMsPerNotification: brokerMs / THROUGHPUT_ORDERS,
      loadGeneratorCpuMsPerNotification: (self.user + self.system) / 1000 / THROUGHPUT_ORDERS,
      peakRssMb: usage.map((u) => u.peakRssMb),
    };
  } finally {
    await sub.stop();
    await Promise.all(started.map((s) => stopChild(s.child)));
  }
}

export async function runPlatformNotifyBench(
  opts: { latency?: boolean; throughput?: boolean } = {},
): Promise<PlatformNotifyResult> {
  const tmp = tempDir('vendgate-bench-notify-');
  const broker = await startMosquitto(tmp.dir);
  try {
    const latency = opts.latency === false ? undefined : await latencyRun(broker, tmp.dir);
    let throughput: PlatformNotifyResult['throughput'];
    if (opts.throughput !== false && postgresAvailable()) {
      const pg = await startPostgres({ durable: true });
      try {
        const postgresUrl = await pg.createDatabase();
        // This process's handle: migrations, and the orders written before each run.
        const store = await openStore({
          backend: 'postgres',
          postgresUrl,
          payerHashKey: Buffer.alloc(32, 7),
        });
        const dataDir = await postgresDataDir(postgresUrl);
        const postmasterPid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
        const keys = testKeys();
        const spec: BenchPlatformSpec = {
          dataDir: tmp.dir,
          backend: 'postgres',
          postgresUrl,
          brokerUrl: broker.url,
          sharedGroup: 'vendgate-platform',
          poolSize: PG_POOL,
          merchantPrivatePem: keys.merchantPrivatePem,
          platformPublicPem: keys.platformPublicPem,
          platformSerial: keys.platformSerial,
        };
        const runs: ReplicaRun[] = [];
        try {
          runs.push(await replicaRun(1, spec, store, broker, postmasterPid));
          runs.push(await replicaRun(2, spec, store, broker, postmasterPid));
        } finally {
          await store.close();
        }
        throughput = { gateways: THROUGHPUT_GATEWAYS, concurrency: THROUGHPUT_CONCURRENCY, runs };
      } finally {
        await pg.stop();
      }
    }
    return { latency, throughput };
  } finally {
    await broker.stop();
    tmp.cleanup();
  }
}

function formatLatency(l: NotifyLatencyResult): string[] {
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const row = (name: string, s: Summary) =>
    `${name.padEnd(52)} ${fmt(s.p50).padStart(8)} ${fmt(s.p99).padStart(8)}`;
  const bareP99 = l.bareHttpMs.p99 + l.bareMqttMs.p99;
  return [
    `platform notification -> order.paid, embedded SQLite, ${l.orders} WeChat notifications, ${l.concurrency} in flight, Mosquitto; the platform and the bare fastify each their own process, the load generator, the gateways' subscriber and the bare MQTT publisher one more`,
    '',
    `${'path'.padEnd(52)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`,
    row('bare: fastify answering 204, no work (own process)', l.bareHttpMs),
    row('bare: MQTT publish -> subscriber', l.bareMqttMs),
    row('vendgate: POST /notify/wechat -> HTTP answer', l.httpAnswerMs),
    row('vendgate: notification -> order.paid at the gateway', l.notifyToPaidMs),
    '',
    `p99 ${fmt(l.notifyToPaidMs.p99)} ms vs bare HTTP + MQTT ${fmt(bareP99)} ms: ratio ${fmt(l.notifyToPaidMs.p99 / bareP99)}x; p99 <= ${TARGET_P99_MS} ms ${met(l.notifyToPaidMs.p99 <= TARGET_P99_MS)}`,
    `${fmt(l.paidPerSec, 0)} paid/s at this concurrency; lost ${l.lost}, doubled ${l.doubled}; platform peak RSS ${fmt(l.peakRssMb, 1)} MB`,
    `CPU ms per notification: platform ${fmt(l.cpuMsPerNotification, 3)} + load generator ${fmt(l.loadGeneratorCpuMsPerNotification, 3)} + Mosquitto ${fmt(l.brokerCpuMsPerNotification, 3)}; bare fastify ${fmt(l.bareHttpCpuMsPerRequest, 3)} per request`,
  ];
}

export function formatPlatformNotifyBench(r: PlatformNotifyResult): string {
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const lines = r.latency ? formatLatency(r.latency) : [];
  const t = r.throughput;
  if (t) {
    lines.push(
      '',
      `paid notifications on PostgreSQL (durable, pool ${PG_POOL} per replica), ${t.gateways} gateways, ${t.concurrency} in flight, replicas as processes in one shared group`,
      '',
      `${'replicas'.padEnd(9)} ${'paid/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'lost'.padStart(5)} ${'doubled'.padStart(8)} ${'non-2xx'.padStart(8)} ${'CPU ms/notif (each)'.padStart(20)} ${'PG CPU ms/notif'.padStart(16)} ${'RSS MB (each)'.padStart(14)}`,
      ...t.runs.map(
        (x) =>
          `${String(x.replicas).padEnd(9)} ${fmt(x.paidPerSec, 0).padStart(8)} ${fmt(x.notifyToPaidMs.p50).padStart(8)} ${fmt(x.notifyToPaidMs.p99).padStart(8)} ${String(x.lost).padStart(5)} ${String(x.doubled).padStart(8)} ${String(x.non2xx).padStart(8)} ${x.cpuMsPerNotification
            .map((c) => fmt(c, 3))
            .join(' / ')
            .padStart(20)} ${fmt(x.postgresCpuMsPerNotification, 3).padStart(16)} ${x.peakRssMb
            .map((m) => fmt(m, 0))
            .join(' / ')
            .padStart(14)}`,
      ),
    );
    const [one, two] = t.runs;
    if (one && two) {
      lines.push(
        '',
        `>= ${TARGET_PAID_PER_SEC} paid/s: ${met(Math.max(one.paidPerSec, two.paidPerSec) >= TARGET_PAID_PER_SEC)}; two/one ${fmt(two.paidPerSec / one.paidPerSec)}x (target ${TARGET_REPLICA_RATIO}x) ${met(two.paidPerSec / one.paidPerSec >= TARGET_REPLICA_RATIO)}`,
        `notifications posted to each replica: ${t.runs.map((x) => `${x.replicas} replica(s) ${x.sentToEach.join(' / ')}`).join('; ')}`,
        `CPU per notification summed over replicas: one ${fmt(one.totalCpuMsPerNotification, 3)} ms, two ${fmt(two.totalCpuMsPerNotification, 3)} ms: replicas scale only when cores are free for them (this box: see the load note)`,
        ...t.runs.map((x) => {
          const all =
            x.totalCpuMsPerNotification +
            x.postgresCpuMsPerNotification +
            x.brokerCpuMsPerNotification +
            x.loadGeneratorCpuMsPerNotification;
          return `${x.replicas} replica(s), every process's CPU ms per notification: replicas ${fmt(x.totalCpuMsPerNotification, 3)} + PostgreSQL ${fmt(x.postgresCpuMsPerNotification, 3)} + Mosquitto ${fmt(x.brokerCpuMsPerNotification, 3)} + load generator ${fmt(x.loadGeneratorCpuMsPerNotification, 3)} = ${fmt(all, 3)} ms: ${cpus().length} cores fit at most ${fmt((cpus().length * 1000) / all, 0)}/s`;
        }),
      );
    }
  }
  return lines.join('\n');
}
