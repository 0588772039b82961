/**
 * Platform event ingestion: 500 simulated gateways publish events over one
 * Mosquitto broker, in signed batches on `evts` as the gateway does (10
 * events a message); the platform's fleet link verifies each batch, stores
 * each event once and acks it (SQLite file, then PostgreSQL), beside a bare
 * baseline in the same run: an MQTT subscriber that only parses each batch
 * and acks the contiguous seq.
 * Measures events/s, ack latency (publish -> the ack covering it) and the
 * peak RSS of this process (broker and database servers excluded).
 *
 *   npm run bench -- platform-ingest
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { sealEventBatch } from '../contract/event-batch.ts';
import { connectMqttAsync } from '../contract/mqtt-client.ts';
import { keyIdOf } from '../contract/signed.ts';
import { generateRawKeyPair, privateKeyFromBase64 } from '../contract/signing.ts';
import { gatewayTopics, parseTopic, TOPIC_ROOT } from '../contract/topics.ts';
import { createFleetLink } from '../platform/fleet/link.ts';
import { SigningKeyring } from '../platform/signing/keyring.ts';
import type { StoreBackend } from '../platform/store/port.ts';
import { openStore } from '../platform/store/store.ts';
import { freePort } from '../testing/ports.ts';
import { postgresAvailable, startPostgres } from '../testing/postgres.ts';
import { tempDir } from '../testing/tmp.ts';
import { waitUntil } from '../testing/wait.ts';
import { fmt, summarize } from './stats.ts';

export interface IngestRun {
  name: string;
  events: number;
  seconds: number;
  eventsPerSec: number;
  ackLatencyMs: ReturnType<typeof summarize>;
  peakRssMb: number;
}

export interface PlatformIngestResult {
  gateways: number;
  eventsPerGateway: number;
  inFlightPerGateway: number;
  publisherConnections: number;
  eventsPerMessage: number;
  runs: IngestRun[];
}

const GATEWAYS = 500;
const EVENTS_PER_GATEWAY = 20;
const IN_FLIGHT = 10;
/** Events per batch message: a gateway sends its next batch once the previous one is acked. */
const BATCH = IN_FLIGHT;
const PUBLISHERS = 20;

export async function startMosquitto(
  dir: string,
): Promise<{ url: string; pid: number | undefined; stop: () => Promise<void> }> {
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 0\nmax_queued_messages 100000\n`,
  );
  const bin = existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto';
  const child: ChildProcess = spawn(bin, ['-c', conf], { stdio: 'ignore' });
  await waitUntil(
    () =>
      new Promise<boolean>((resolve) => {
        const s = connect({ port, host: '127.0.0.1' });
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      }),
    { timeoutMs: 10_000, what: 'mosquitto up', everyMs: 25 },
  );
  return {
    url: `mqtt://127.0.0.1:${port}`,
    pid: child.pid,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/** The gateways' one Ed25519 key (pinned for each gateway id): events are signed envelopes. */
const GATEWAY_KEY = generateRawKeyPair();
const GATEWAY_KEY_ID = keyIdOf(GATEWAY_KEY.publicKey);
const GATEWAY_PRIVATE = privateKeyFromBase64(GATEWAY_KEY.privateKey);

const gatewayIdsOf = (runId: string) => Array.from({ length: GATEWAYS }, (_, g) => `bench-${runId}-${g}`);

/** The load: GATEWAYS ids over PUBLISHERS connections, each gateway at most IN_FLIGHT unacked events. */
async function drive(brokerUrl: string, name: string, runId = randomUUID().slice(0, 8)): Promise<IngestRun> {
  const clients: MqttClient[] = [];
  for (let i = 0; i < PUBLISHERS; i++)
    clients.push(await connectMqttAsync(brokerUrl, { clientId: `load-${runId}-${i}` }));
  const latencies: number[] = [];
  let peakRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 50);
  const states = gatewayIdsOf(runId).map((id, g) => ({
    id,
    client: clients[g % PUBLISHERS]!,
    next: 1,
    acked: 0,
    sentAt: new Map<number, number>(),
    // Signed before the clock starts: the gateways' signing is not the platform's cost.
    // Batch k carries seqs k*BATCH+1 .. (k+1)*BATCH.
    batches: Array.from({ length: Math.ceil(EVENTS_PER_GATEWAY / BATCH) }, (_, k) =>
      sealEventBatch(
        id,
        Array.from({ length: Math.min(BATCH, EVENTS_PER_GATEWAY - k * BATCH) }, (_, j) => {
          const i = k * BATCH + j;
          return JSON.stringify({
            id: randomUUID(),
            seq: i + 1,
            gatewayId: id,
            ts: Date.now(),
            type: 'machine.status',
            data: { machineId: 'm1', online: i % 2 === 0 },
          });
        }),
        GATEWAY_PRIVATE,
        GATEWAY_KEY_ID,
      ),
    ),
  }));
  const byId = new Map(states.map((s) => [s.id, s]));
  // As a gateway's drain: the next batch goes once everything sent is acked (IN_FLIGHT = BATCH).
  const publishMore = (s: (typeof states)[number]) => {
    if (s.next > EVENTS_PER_GATEWAY || s.next - 1 > s.acked) return;
    const k = (s.next - 1) / BATCH;
    const now = performance.now();
    for (let j = 0; j < BATCH && s.next <= EVENTS_PER_GATEWAY; j++) s.sentAt.set(s.next++, now);
    s.client.publish(gatewayTopics(s.id).eventBatch, s.batches[k]!, { qos: 1 });
  };
  for (const c of clients) {
    c.on('message', (topic, payload) => {
      const t = parseTopic(topic);
      const s = t && byId.get(t.gatewayId);
      if (!s) return;
      // The platform's ack is a sealed envelope; the bare baseline's is the plain body.
      const sealed = JSON.parse(payload.toString('utf8')) as { body?: string; upTo?: number };
      const upTo = sealed.upTo ?? (JSON.parse(sealed.body ?? '{}') as { upTo: number }).upTo;
      const now = performance.now();
      for (let q = s.acked + 1; q <= upTo; q++) {
        const at = s.sentAt.get(q);
        if (at !== undefined) latencies.push(now - at);
        s.sentAt.delete(q);
      }
      s.acked = Math.max(s.acked, upTo);
      publishMore(s);
    });
  }
  // Each connection hears only its own gateways' acks, as each gateway would.
  await Promise.all(
    clients.map((c) =>
      c.subscribeAsync(
        states.filter((s) => s.client === c).map((s) => gatewayTopics(s.id).ack),
        { qos: 1 },
      ),
    ),
  );
  const t0 = performance.now();
  for (const s of states) publishMore(s);
  const total = GATEWAYS * EVENTS_PER_GATEWAY;
  await waitUntil(() => latencies.length >= total, {
    timeoutMs: 300_000,
    what: `${name}: every event acked`,
    everyMs: 5,
  });
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(rssTimer);
  await Promise.all(clients.map((c) => c.endAsync(true)));
  return {
    name,
    events: total,
    seconds,
    eventsPerSec: total / seconds,
    ackLatencyMs: summarize(latencies),
    peakRssMb: peakRss / 2 ** 20,
  };
}

/** The baseline: parse each batch and ack the contiguous seq per gateway every 5 ms, storing nothing nor verifying. */
async function bareSubscriber(brokerUrl: string): Promise<() => Promise<void>> {
  const c = await connectMqttAsync(brokerUrl, { clientId: `bare-${randomUUID()}` });
  const contiguous = new Map<string, number>();
  const due = new Set<string>();
  c.on('message', (topic, payload) => {
    const t = parseTopic(topic);
    if (!t) return;
    const sealed = JSON.parse(payload.toString('utf8')) as { body: string };
    const batch = JSON.parse(sealed.body) as { events: Array<{ seq: number }> };
    let at = contiguous.get(t.gatewayId) ?? 0;
    for (const env of batch.events) if (env.seq === at + 1) at = env.seq;
    contiguous.set(t.gatewayId, at);
    due.add(t.gatewayId);
  });
  await c.subscribeAsync(`${TOPIC_ROOT}/+/evts`, { qos: 1 });
  const timer = setInterval(() => {
    for (const gw of due)
      c.publish(gatewayTopics(gw).ack, JSON.stringify({ upTo: contiguous.get(gw) ?? 0 }), { qos: 1 });
    due.clear();
  }, 5);
  return async () => {
    clearInterval(timer);
    await c.endAsync(true);
  };
}

async function platformRun(brokerUrl: string, backend: StoreBackend, dir: string, postgresUrl?: string) {
  const store = await openStore({
    backend,
    sqlitePath: join(dir, `platform-${backend}.db`),
    postgresUrl,
    payerHashKey: Buffer.alloc(32, 1),
  });
  const runId = randomUUID().slice(0, 8);
  for (const id of gatewayIdsOf(runId)) {
    await store.gateways.ensure(id, Date.now());
    await store.gateways.pinPublicKey(id, GATEWAY_KEY.publicKey);
  }
  const link = createFleetLink({
    brokerUrl,
    store,
    signer: new SigningKeyring([{ keyId: 'default', privateKey: generateRawKeyPair().privateKey }]),
    protocolVersion: 5,
  });
  await link.start();
  try {
    return await drive(brokerUrl, `vendgate platform, ${backend}`, runId);
  } finally {
    await link.stop();
    await store.close();
  }
}

export async function runPlatformIngestBench(): Promise<PlatformIngestResult> {
  const tmp = tempDir('vendgate-bench-ingest-');
  const broker = await startMosquitto(tmp.dir);
  const runs: IngestRun[] = [];
  try {
    const stopBare = await bareSubscriber(broker.url);
    runs.push(await drive(broker.url, 'bare: parse + ack, no store'));
    await stopBare();
    runs.push(await platformRun(broker.url, 'sqlite', tmp.dir));
    if (postgresAvailable()) {
      // Durable (fsync on), as a fleet would run it.
      const pg = await startPostgres({ durable: true });
      try {
        runs.push(await platformRun(broker.url, 'postgres', tmp.dir, await pg.createDatabase()));
      } finally {
        await pg.stop();
      }
    }
  } finally {
    await broker.stop();
    tmp.cleanup();
  }
  return {
    gateways: GATEWAYS,
    eventsPerGateway: EVENTS_PER_GATEWAY,
    inFlightPerGateway: IN_FLIGHT,
    publisherConnections: PUBLISHERS,
    eventsPerMessage: BATCH,
    runs,
  };
}

export function formatPlatformIngestBench(r: PlatformIngestResult): string {
  const row = (x: IngestRun) =>
    `${x.name.padEnd(34)} ${fmt(x.eventsPerSec, 0).padStart(9)} ${fmt(x.ackLatencyMs.p50).padStart(8)} ${fmt(x.ackLatencyMs.p99).padStart(8)} ${fmt(x.peakRssMb, 1).padStart(8)}`;
  const bare = r.runs[0]!;
  return [
    `platform ingest: ${r.gateways} gateways x ${r.eventsPerGateway} events (${r.inFlightPerGateway} in flight each, ${r.eventsPerMessage} a signed batch) over ${r.publisherConnections} connections, Mosquitto`,
    '',
    `${'path'.padEnd(34)} ${'events/s'.padStart(9)} ${'ack p50'.padStart(8)} ${'ack p99'.padStart(8)} ${'RSS MB'.padStart(8)}`,
    ...r.runs.map(row),
    '',
    ...r.runs
      .slice(1)
      .map(
        (x) =>
          `${x.name}: throughput ${fmt(x.eventsPerSec / bare.eventsPerSec)}x of bare, ack p99 +${fmt(x.ackLatencyMs.p99 - bare.ackLatencyMs.p99)} ms`,
      ),
    '(RSS: this process, load generator included; broker and PostgreSQL are their own processes)',
  ].join('\n');
}
