import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import mqtt from 'mqtt';
import { gatewayTopics } from '../contract/topics.ts';
import { silentLogger } from '../core/log.ts';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_PACKET_SIZE,
  startEmbeddedBroker,
} from '../gateway/broker/embedded.ts';
import { parseConfig } from '../gateway/config/load.ts';
import { startGateway } from '../main/gateway.ts';
import { tempDir } from '../testing/tmp.ts';

/**
 * Memory and disk under hostile input, measured on the real code in this
 * process: RSS before and after each attack on the embedded broker (default
 * limits), and the store's size on disk before and after a flood of refused
 * commands on the whole gateway. Loopback only, bounded in count and time.
 * Figures, not assertions.
 */

const MB = 1024 * 1024;

export interface BrokerCase {
  name: string;
  rssBeforeMb: number;
  rssAfterMb: number;
  rssDeltaMb: number;
  /** Bytes the attacker got written before the broker closed the connection. */
  sentBytes: number;
  connections: number;
  closed: number;
  seconds: number;
}

export interface FloodResult {
  commands: number;
  junkPayloads: number;
  topicBytes: number;
  rssBeforeMb: number;
  rssAfterMb: number;
  rssDeltaMb: number;
  storeBeforeBytes: number;
  storeAfterBytes: number;
  storeDeltaBytes: number;
  outboxRowsAdded: number;
  rejectedEvents: number;
  suppressedEvents: number;
  summarisedRefusals: number;
  outboxStable: boolean;
  seconds: number;
}

export interface HostileInputBenchResult {
  broker: { maxPacketSize: number; connectTimeoutMs: number; cases: BrokerCase[] };
  flood: FloodResult;
  gcExposed: boolean;
  node: string;
  platform: string;
  at: string;
}

// A few lines of MQTT 3.1.1 framing (sections 1.5.3, 2.2.3, 3.1, 3.3).
function mqttString(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

function connectPacket(clientId: string): Buffer {
  const body = Buffer.concat([mqttString('MQTT'), Buffer.from([4, 0x02, 0, 60]), mqttString(clientId)]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

function publishHeader(bodyBytes: number): Buffer {
  return Buffer.concat([Buffer.from([0x30]), remainingLength(bodyBytes)]);
}

interface Raw {
  socket: Socket;
  closed: Promise<void>;
  isClosed: () => boolean;
  firstData: Promise<Buffer | undefined>;
}

function openRaw(port: number): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: '127.0.0.1', noDelay: true });
    let closed = false;
    const closedP = new Promise<void>((r) =>
      socket.once('close', () => {
        closed = true;
        r();
      }),
    );
    const firstData = Promise.race([
      new Promise<Buffer>((r) => socket.once('data', r)),
      closedP.then(() => undefined),
    ]);
    socket.once('connect', () => {
      socket.on('error', () => {});
      resolve({ socket, closed: closedP, isClosed: () => closed, firstData });
    });
    socket.once('error', reject);
  });
}

/** Streams zeros from one reused 64 KiB buffer, honouring backpressure, until done or closed. */
async function streamZeros(raw: Raw, total: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024);
  let sent = 0;
  while (sent < total && !raw.isClosed() && !raw.socket.destroyed) {
    const n = Math.min(chunk.length, total - sent);
    const ok = raw.socket.write(n === chunk.length ? chunk : chunk.subarray(0, n));
    sent += n;
    if (!ok) await Promise.race([new Promise((r) => raw.socket.once('drain', r)), raw.closed]);
  }
  return sent;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function settle(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function rssMb(): number {
  return Math.round((process.memoryUsage().rss / MB) * 10) / 10;
}

/** Resolves with whether `p` settled within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let t: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    p.then(() => true),
    new Promise<boolean>((res) => (t = setTimeout(res, ms, false))),
  ]);
  clearTimeout(t);
  return r;
}

function storeBytes(dir: string): number {
  const db = join(dir, 'vendgate.db');
  return [db, `${db}-wal`].reduce((sum, f) => sum + (existsSync(f) ? statSync(f).size : 0), 0);
}

async function measure(
  name: string,
  connections: number,
  run: () => Promise<{ sent: number; closed: number }>,
): Promise<BrokerCase> {
  settle();
  await sleep(200);
  const before = rssMb();
  const t0 = performance.now();
  const { sent, closed } = await run();
  settle();
  await sleep(200);
  const after = rssMb();
  return {
    name,
    rssBeforeMb: before,
    rssAfterMb: after,
    rssDeltaMb: Math.round((after - before) * 10) / 10,
    sentBytes: sent,
    connections,
    closed,
    seconds: Math.round(performance.now() - t0) / 1000,
  };
}

async function brokerCases(): Promise<BrokerCase[]> {
  const broker = await startEmbeddedBroker({ port: 0, log: silentLogger() });
  try {
    const cases: BrokerCase[] = [];
    cases.push(
      await measure('PUBLISH announcing 150 MB, no CONNECT, 20 MB streamed', 1, async () => {
        const raw = await openRaw(broker.port);
        raw.socket.write(publishHeader(150 * MB));
        const sent = await streamZeros(raw, 20 * MB);
        const closed = await within(raw.closed, 10_000);
        raw.socket.destroy();
        return { sent, closed: closed ? 1 : 0 };
      }),
    );
    cases.push(
      await measure('anonymous loopback CONNECT, then a 100 MB PUBLISH', 1, async () => {
        const raw = await openRaw(broker.port);
        raw.socket.write(connectPacket('hostile-big'));
        const ack = await raw.firstData;
        if (ack?.equals(Buffer.from([0x20, 0x02, 0x00, 0x00])) !== true)
          throw new Error('the broker did not accept the CONNECT');
        const topic = mqttString('big');
        raw.socket.write(Buffer.concat([publishHeader(100 * MB), topic]));
        const sent = await streamZeros(raw, 100 * MB - topic.length);
        const closed = await within(raw.closed, 10_000);
        raw.socket.destroy();
        return { sent, closed: closed ? 1 : 0 };
      }),
    );
    const silent = 200;
    cases.push(
      await measure(`${silent} connections that never send CONNECT`, silent, async () => {
        const raws: Raw[] = [];
        for (let i = 0; i < silent; i++) raws.push(await openRaw(broker.port));
        await within(Promise.all(raws.map((r) => r.closed)), DEFAULT_CONNECT_TIMEOUT_MS + 5_000);
        const closed = raws.filter((r) => r.isClosed()).length;
        for (const r of raws) r.socket.destroy();
        return { sent: 0, closed };
      }),
    );
    return cases;
  } finally {
    await broker.close();
  }
}

async function flood(): Promise<FloodResult> {
  const commands = 2_000;
  const topicBytes = 60 * 1024;
  const tmp = tempDir('vendgate-bench-hostile-');
  const gatewayId = 'bench-hostile';
  const gw = await startGateway({
    config: parseConfig({
      gatewayId,
      dataDir: tmp.dir,
      log: { level: 'silent' },
      broker: { embedded: { host: '127.0.0.1', port: 0, users: [] } },
      http: { enabled: false },
      machines: [],
    }),
    log: silentLogger(),
  });
  const client = await mqtt.connectAsync(gw.brokerUrl, {
    clientId: 'bench-hostile-flooder',
    reconnectPeriod: 0,
  });
  try {
    await sleep(1_000); // start-up writes settle
    settle();
    const rssBefore = rssMb();
    const storeBefore = storeBytes(tmp.dir);
    const seqBefore = gw.outbox.stats().lastSeq;
    const t0 = performance.now();
    const topic = gatewayTopics(gatewayId).command('x'.repeat(topicBytes));
    const junk = Buffer.alloc(20_000, 0x41);
    const small = Buffer.from('{}');
    let junkPayloads = 0;
    for (let i = 0; i < commands; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, (_, k) => {
          const isJunk = (i + k) % 2 === 0;
          if (isJunk) junkPayloads++;
          return client.publishAsync(topic, isJunk ? junk : small, { qos: 1 });
        }),
      );
    }
    const count = () => {
      let rejected = 0;
      let suppressed = 0;
      let summarised = 0;
      for (const r of gw.outbox.pendingAfter(seqBefore, 1_000_000)) {
        if (r.type === 'command.rejected') rejected++;
        if (r.type === 'command.suppressed') {
          suppressed++;
          const env = JSON.parse(r.envelope) as { data?: { count?: number } };
          summarised += env.data?.count ?? 0;
        }
      }
      return { rejected, suppressed, summarised };
    };
    // Wait until the outbox stops growing: lastSeq unchanged for 2 s, at most 30 s.
    // The over-limit refusals are summarised by a timer (5 s by default) after
    // the flood, so a quiet 2 s counts only once every refusal is accounted for.
    const deadline = Date.now() + 30_000;
    let last = gw.outbox.stats().lastSeq;
    let stableSince = Date.now();
    let stable = false;
    while (Date.now() < deadline) {
      await sleep(100);
      const now = gw.outbox.stats().lastSeq;
      if (now !== last) {
        last = now;
        stableSince = Date.now();
      } else if (Date.now() - stableSince >= 2_000) {
        const c = count();
        if (c.rejected + c.summarised >= commands) {
          stable = true;
          break;
        }
      }
    }
    const seconds = Math.round(performance.now() - t0) / 1000;
    settle();
    const rssAfter = rssMb();
    const storeAfter = storeBytes(tmp.dir);
    const { rejected, suppressed, summarised } = count();
    return {
      commands,
      junkPayloads,
      topicBytes,
      rssBeforeMb: rssBefore,
      rssAfterMb: rssAfter,
      rssDeltaMb: Math.round((rssAfter - rssBefore) * 10) / 10,
      storeBeforeBytes: storeBefore,
      storeAfterBytes: storeAfter,
      storeDeltaBytes: storeAfter - storeBefore,
      outboxRowsAdded: last - seqBefore,
      rejectedEvents: rejected,
      suppressedEvents: suppressed,
      summarisedRefusals: summarised,
      outboxStable: stable,
      seconds,
    };
  } finally {
    await client.endAsync(true).catch(() => {});
    await gw.stop();
    tmp.cleanup();
  }
}

export async function runHostileInputBench(): Promise<HostileInputBenchResult> {
  const cases = await brokerCases();
  const f = await flood();
  return {
    broker: { maxPacketSize: DEFAULT_MAX_PACKET_SIZE, connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS, cases },
    flood: f,
    gcExposed: typeof (globalThis as { gc?: unknown }).gc === 'function',
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    at: new Date().toISOString(),
  };
}

export function formatHostileInputBench(r: HostileInputBenchResult): string {
  const n = (x: number, w: number) => x.toFixed(1).padStart(w);
  const f = r.flood;
  return [
    `hostile input, embedded aedes broker in this process (maxPacketSize ${r.broker.maxPacketSize / 1024} KiB, connectTimeoutMs ${r.broker.connectTimeoutMs})${r.gcExposed ? '' : ', no --expose-gc'}`,
    '',
    `${'input'.padEnd(56)} ${'RSS before'.padStart(10)} ${'after'.padStart(7)} ${'delta'.padStart(7)} ${'sent MB'.padStart(8)} ${'closed'.padStart(8)}`,
    ...r.broker.cases.map(
      (c) =>
        `${c.name.padEnd(56)} ${n(c.rssBeforeMb, 10)} ${n(c.rssAfterMb, 7)} ${n(c.rssDeltaMb, 7)} ${n(c.sentBytes / MB, 8)} ${`${c.closed}/${c.connections}`.padStart(8)}`,
    ),
    '',
    `refused-command flood on the whole gateway: ${f.commands} commands on cmd/ + a ${f.topicBytes / 1024} KB type, ${f.junkPayloads} with a 20 KB junk payload`,
    `  RSS    ${n(f.rssBeforeMb, 8)} MB -> ${n(f.rssAfterMb, 8)} MB  (delta ${n(f.rssDeltaMb, 0)} MB)`,
    `  store  ${n(f.storeBeforeBytes / 1024, 8)} KB -> ${n(f.storeAfterBytes / 1024, 8)} KB  (delta ${n(f.storeDeltaBytes / 1024, 0)} KB; vendgate.db + -wal)`,
    `  outbox +${f.outboxRowsAdded} rows: ${f.rejectedEvents} command.rejected, ${f.suppressedEvents} command.suppressed summarising ${f.summarisedRefusals}; ${f.rejectedEvents + f.summarisedRefusals}/${f.commands} accounted; ${f.outboxStable ? 'all accounted, stable 2 s' : 'not settled at 30 s'} after ${f.seconds} s`,
  ].join('\n');
}

async function main(): Promise<void> {
  const result = await runHostileInputBench();
  process.stdout.write(`${formatHostileInputBench(result)}\n`);
  const out = fileURLToPath(new URL('./results/hostile-input.json', import.meta.url));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\nwrote ${out}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
