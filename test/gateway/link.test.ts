import { join } from 'node:path';
import mqtt from 'mqtt';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GatewayStatus } from '../../contract/events.ts';
import { generateRawKeyPair, publicKeyFromBase64 } from '../../contract/signing.ts';
import { gatewayTopics } from '../../contract/topics.ts';
import { ErrorCode, isVendgateError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { type PaidOrder, SimPlatform } from '../../firmware-sim/platform/platform.ts';
import { startEmbeddedBroker } from '../../gateway/broker/embedded.ts';
import { CommandGuard } from '../../gateway/link/command-guard.ts';
import { ephemeralGatewayKey } from '../../gateway/link/gateway-key.ts';
import { type AcceptedCommand, PlatformLink } from '../../gateway/link/link.ts';
import { Outbox } from '../../gateway/outbox/outbox.ts';
import { type Db, openStore } from '../../gateway/store/db.ts';
import { cleanupsAfterEach, expectVendgateError, freePort, tempDir, waitUntil } from '../../testing/index.ts';
import { mosquittoAvailable, startMosquitto } from '../support/mosquitto.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';

const log = silentLogger();

/** A broker a test can take away and bring back on the same port. */
interface TestBroker {
  url: string;
  port: number;
  /** Stops the broker; `start` brings a fresh one (no sessions, no retained messages) back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

async function embedded(): Promise<TestBroker> {
  const port = await freePort();
  let b = await startEmbeddedBroker({ port, log });
  let up = true;
  return {
    url: b.url,
    port,
    async stop() {
      up = false;
      await b.close();
    },
    async start() {
      b = await startEmbeddedBroker({ port, log });
      up = true;
    },
    async close() {
      if (up) await b.close();
      up = false;
    },
  };
}

async function mosquitto(): Promise<TestBroker> {
  const m = await startMosquitto();
  return { url: m.url, port: m.port, stop: m.down, start: m.up, close: m.stop };
}

const brokers: Array<[string, () => Promise<TestBroker>, boolean]> = [
  ['the embedded aedes broker', embedded, true],
  ['Mosquitto', mosquitto, mosquittoAvailable()],
];

let seq = 0;
function order(overrides: Partial<PaidOrder> = {}): PaidOrder {
  seq++;
  return {
    orderId: `order-${Date.now()}-${seq}`,
    machineId: 'm1',
    slot: 3,
    price: { amount: 350, currency: 'CNY' },
    provider: 'wechat',
    expiresAt: Date.now() + 600_000,
    ...overrides,
  };
}

interface Site {
  db: Db;
  outbox: Outbox;
  link: PlatformLink;
  platform: SimPlatform;
  commands: AcceptedCommand[];
  /** Appends n critical events in one transaction each, then notifies the link. */
  append(n: number): void;
}

const cleanups = cleanupsAfterEach();

describe.each(brokers)('the platform link over %s', (_name, makeBroker, available) => {
  let keys: ReturnType<typeof generateRawKeyPair>;
  beforeAll(() => {
    keys = generateRawKeyPair();
  });

  async function site(
    brokerUrl: string,
    opts: {
      gatewayId?: string;
      maxInFlight?: number;
      resendAfterMs?: number;
      platformUrl?: string;
      eventBatching?: boolean;
    } = {},
  ): Promise<Site> {
    const gatewayId = opts.gatewayId ?? `gw-${Math.random().toString(36).slice(2, 8)}`;
    const tmp = tempDir();
    const db = openStore({ path: join(tmp.dir, 'vendgate.db') });
    cleanups.push(() => {
      db.close();
      tmp.cleanup();
    });
    const outbox = new Outbox(db, { gatewayId, maxRows: 10_000, telemetryTtlMs: 60_000 });
    const guard = new CommandGuard(db, {
      gatewayId,
      keys: new Map([['default', publicKeyFromBase64(keys.publicKey)]]),
      maxSkewMs: 30_000,
      maxLifetimeMs: 24 * 3600_000,
    });
    const gatewayKey = ephemeralGatewayKey();
    const platform = new SimPlatform({
      brokerUrl: opts.platformUrl ?? brokerUrl,
      gatewayId,
      privateKey: keys.privateKey,
      gatewayPublicKey: gatewayKey.publicKey,
    });
    await platform.connect();
    cleanups.push(() => platform.close());
    const link = new PlatformLink({
      brokerUrl,
      gatewayId,
      gatewayKey,
      outbox,
      guard,
      db,
      log,
      status: () => ({ version: 'test', outbox: statsFor(outbox), lastSeq: outbox.stats().lastSeq }),
      resendAfterMs: opts.resendAfterMs ?? 500,
      maxInFlight: opts.maxInFlight ?? 500,
      ...(opts.eventBatching !== undefined ? { eventBatching: opts.eventBatching } : {}),
    });
    const commands: AcceptedCommand[] = [];
    link.on('command', (c) => commands.push(c));
    link.start();
    cleanups.push(() => link.stop());
    await waitUntil(() => link.connected, { timeoutMs: 5000, what: 'link connected' });
    let n = 0;
    return {
      db,
      outbox,
      link,
      platform,
      commands,
      append(count) {
        for (let i = 0; i < count; i++) {
          n++;
          db.transaction(() =>
            outbox.append('order.state', {
              orderId: `order-state-${n}`,
              state: 'received',
              duplicate: false,
            }),
          )();
          link.notify();
        }
      },
    };
  }

  it.skipIf(!available)(
    'delivers events in seq order and removes them from the outbox only on the platform ack',
    async () => {
      const b = await makeBroker();
      cleanups.push(() => b.close());
      const s = await site(b.url);
      s.append(200);
      await waitUntil(() => s.outbox.stats().pending === 0, { timeoutMs: 10_000, what: 'outbox drained' });
      const seqs = s.platform.events.map((e) => e.seq);
      expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(s.platform.seqGaps()).toEqual([]);
      expect(s.link.ackedSeq).toBe(200);
    },
  );

  it.skipIf(!available)(
    'sends events in signed batches by default, and one message per event with eventBatching false',
    async () => {
      const b = await makeBroker();
      cleanups.push(() => b.close());
      const batched = await site(b.url);
      const single = await site(b.url, { eventBatching: false });
      for (const s of [batched, single]) {
        // One transaction, one notify: the drain carries all 30 at once.
        s.db.transaction(() => {
          for (let i = 1; i <= 30; i++)
            s.outbox.append('order.state', {
              orderId: `order-batch-${i}`,
              state: 'received',
              duplicate: false,
            });
        })();
        s.link.notify();
      }
      for (const s of [batched, single]) {
        await waitUntil(() => s.outbox.stats().pending === 0, { timeoutMs: 10_000, what: 'outbox drained' });
        expect(s.platform.events.map((e) => e.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
        expect(s.platform.invalidEvents).toBe(0);
      }
      expect(batched.platform.batchesReceived).toBeGreaterThanOrEqual(1);
      expect(batched.platform.batchesReceived).toBeLessThan(30);
      expect(single.platform.batchesReceived).toBe(0);
    },
  );

  it.skipIf(!available)(
    'keeps events until acknowledged end to end, resending when no ack comes',
    async () => {
      const b = await makeBroker();
      cleanups.push(() => b.close());
      const s = await site(b.url, { resendAfterMs: 300 });
      s.platform.acking = false;
      s.append(10);
      await waitUntil(() => s.platform.duplicateDeliveries >= 10, { timeoutMs: 5000, what: 'a resend' });
      // Brokers PUBACKed every publish, yet nothing left the outbox.
      expect(s.outbox.stats().pending).toBe(10);
      s.platform.acking = true;
      await waitUntil(() => s.outbox.stats().pending === 0, { timeoutMs: 5000, what: 'outbox drained' });
      expect(s.platform.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    },
  );

  it.skipIf(!available)('sends at most maxInFlight events beyond the last acknowledged one', async () => {
    const b = await makeBroker();
    cleanups.push(() => b.close());
    const s = await site(b.url, { maxInFlight: 5, resendAfterMs: 60_000 });
    s.platform.acking = false;
    s.append(20);
    await new Promise((r) => setTimeout(r, 300));
    expect(s.platform.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    s.platform.acking = true;
    await waitUntil(() => s.outbox.stats().pending === 0, { timeoutMs: 5000, what: 'outbox drained' });
    expect(s.platform.events).toHaveLength(20);
    expect(s.platform.seqGaps()).toEqual([]);
  });

  it.skipIf(!available)(
    'queues events in the outbox while the broker is down and delivers them, without gap or duplicate, when it returns',
    async () => {
      const b = await makeBroker();
      cleanups.push(() => b.close());
      const s = await site(b.url, { resendAfterMs: 400 });
      const disconnected = new Promise<void>((r) => s.link.once('disconnect', () => r()));
      const reconnected = new Promise<void>((r) => s.link.once('connect', () => r()));
      s.append(50);
      await waitUntil(() => s.outbox.stats().pending === 0, { timeoutMs: 5000, what: 'first batch acked' });
      await b.stop();
      await disconnected;
      expect(s.link.connected).toBe(false);
      s.append(100); // the gateway keeps working; nothing is lost
      expect(s.outbox.stats().pending).toBe(100);
      await new Promise((r) => setTimeout(r, 700));
      s.append(50);
      await b.start();
      await reconnected;
      await waitUntil(() => s.outbox.stats().pending === 0, { timeoutMs: 20_000, what: 'backlog acked' });
      await waitUntil(() => s.platform.contiguousSeq === 200, {
        timeoutMs: 5000,
        what: 'platform caught up',
      });
      expect(s.platform.events.map((e) => e.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(s.platform.seqGaps()).toEqual([]);
      expect(new Set(s.platform.events.map((e) => e.id)).size).toBe(200);
    },
  );

  it.skipIf(!available)(
    'publishes a retained online birth, the will sets it offline when the connection dies, and birth is republished on reconnect',
    async () => {
      const b = await makeBroker();
      cleanups.push(() => b.close());
      const proxy = await startTcpProxy({ port: b.port });
      cleanups.push(() => proxy.close());
      const s = await site(proxy.url, { platformUrl: b.url });
      await waitUntil(() => s.platform.lastStatus?.state === 'online', {
        timeoutMs: 5000,
        what: 'online status',
      });
      const online = s.platform.lastStatus!;
      expect(online).toMatchObject({ state: 'online', gatewayId: s.platform.opts.gatewayId });
      expect(online.version).toBe('test');
      expect(online.outbox).toEqual({ pending: 0, dropped: 0, expired: 0 });

      const before = s.platform.statuses.length;
      proxy.cutAll(); // no DISCONNECT packet: the broker publishes the will
      await waitUntil(() => s.platform.statuses.slice(before).some((st) => st.state === 'offline'), {
        timeoutMs: 10_000,
        what: 'will (offline)',
      });
      await waitUntil(() => s.platform.statuses.slice(before).at(-1)?.state === 'online', {
        timeoutMs: 10_000,
        what: 'birth again',
      });
      expect(s.platform.statuses.slice(before).map((st) => st.state)).toEqual(['offline', 'online']);

      // The retained message is what a platform that connects later sees.
      expect(await retainedStatus(b.url, online.gatewayId)).toMatchObject({ state: 'online' });
      await s.link.stop();
      expect(await retainedStatus(b.url, online.gatewayId)).toMatchObject({
        state: 'offline',
        gatewayId: online.gatewayId,
        lastSeq: 0,
        ackedSeq: 0,
        eventKey: { keyId: s.link.eventKey.keyId, publicKey: s.link.eventKey.publicKey },
      });
    },
  );

  it.skipIf(!available)(
    'emits accepted commands and reports every refused one as command.rejected',
    async () => {
      const b = await makeBroker();
      cleanups.push(() => b.close());
      const s = await site(b.url);
      const p = s.platform;
      const good = await p.placeOrder(order());
      await waitUntil(() => s.commands.length === 1, { timeoutMs: 5000, what: 'accepted command' });
      expect(s.commands[0]).toMatchObject({ id: good.id, type: 'order.paid' });

      // A replay: the accepted command's id over another body.
      await p.sendCommand('order.paid', order(), { id: good.id });
      await p.sendForged('order.paid', order());
      await p.sendExpired('order.paid', order());
      await p.sendMisaddressed('order.paid', order());
      await p.sendUnsigned('order.paid', order());
      await p.sendCommand('order.pay', order());
      await p.publishRaw('order.paid', 'not json');
      await waitUntil(() => p.eventsOfType('command.rejected').length === 7, {
        timeoutMs: 5000,
        what: 'seven rejections',
      });
      const rejected = p.eventsOfType('command.rejected').map((e) => e.data as Record<string, unknown>);
      expect(rejected.map((r) => r.code)).toEqual([
        ErrorCode.CommandReplayed,
        ErrorCode.CommandSignatureInvalid,
        ErrorCode.CommandExpired,
        ErrorCode.CommandMisaddressed,
        ErrorCode.CommandUnsigned,
        ErrorCode.CommandUnknownType,
        ErrorCode.PayloadNotJson,
      ]);
      expect(rejected[0]).toMatchObject({ commandId: good.id, commandType: 'order.paid' });
      expect(rejected[0]!.topic).toBe(gatewayTopics(p.opts.gatewayId).command('order.paid'));
      expect(rejected[5]).toMatchObject({ code: ErrorCode.CommandUnknownType, commandType: 'order.pay' });
      expect(s.commands).toHaveLength(1);
    },
  );

  it.skipIf(!available)(
    'ignores invalid and unsigned acks, refuses a signed one beyond what was published, and keeps working',
    async () => {
      const b = await makeBroker();
      cleanups.push(() => b.close());
      const s = await site(b.url);
      s.platform.acking = false;
      s.append(3);
      await waitUntil(() => s.platform.events.length === 3, { timeoutMs: 5000, what: 'three events' });
      await s.platform.publishAck('{"upTo":"all"}');
      await s.platform.publishAck('nonsense');
      await s.platform.publishAck('{"upTo":-1}');
      await s.platform.publishAck('{"upTo":3}');
      await new Promise((r) => setTimeout(r, 100));
      expect(s.outbox.stats().pending).toBe(3);
      // An ack beyond anything published must not delete events not yet sent.
      s.append(1);
      await s.platform.publishAck(s.platform.signAck(1_000_000));
      await new Promise((r) => setTimeout(r, 100));
      s.append(2);
      await waitUntil(() => s.platform.events.length === 6, {
        timeoutMs: 5000,
        what: 'events after a bogus ack',
      });
      expect(s.platform.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      s.platform.acking = true;
      await waitUntil(() => s.outbox.stats().pending === 0, { timeoutMs: 5000, what: 'outbox drained' });
    },
  );

  it.skipIf(!available)('correlates requests with responses and times out when none comes', async () => {
    const b = await makeBroker();
    cleanups.push(() => b.close());
    const s = await site(b.url);
    s.platform.onRequest('order.create', (data) => ({
      orderId: 'order-123456',
      paymentUrl: 'weixin://wxpay/bizpayurl?pr=abc',
      echo: data,
    }));
    s.platform.onRequest('order.refuse', () => {
      throw Object.assign(new Error('slot not sold here'), { code: 42 });
    });
    const [a, c] = await Promise.all([
      s.link.request('order.create', { machineId: 'm1', slot: 1 }, 3000),
      s.link.request('order.create', { machineId: 'm1', slot: 2 }, 3000),
    ]);
    expect(a).toMatchObject({ orderId: 'order-123456', echo: { slot: 1 } });
    expect(c).toMatchObject({ echo: { slot: 2 } });
    const refused = await expectVendgateError(
      s.link.request('order.refuse', {}, 3000),
      ErrorCode.RequestRefused,
    );
    expect(refused.message).toMatch(/slot not sold here/);
    await expect(s.link.request('nobody.listens', {}, 200)).rejects.toSatisfy(
      (e) => isVendgateError(e, ErrorCode.RequestRefused) || isVendgateError(e, ErrorCode.RequestTimeout),
    );
  });
});

describe('the platform link', () => {
  it('rejects a request with RequestTimeout when the platform does not answer in time', async () => {
    const b = await startEmbeddedBroker({ port: 0, log });
    cleanups.push(() => b.close());
    const tmp = tempDir();
    const db = openStore({ path: join(tmp.dir, 'v.db') });
    cleanups.push(() => {
      db.close();
      tmp.cleanup();
    });
    const keys = generateRawKeyPair();
    const link = new PlatformLink({
      brokerUrl: b.url,
      gatewayId: 'gw-timeout',
      outbox: new Outbox(db, { gatewayId: 'gw-timeout', maxRows: 100, telemetryTtlMs: 1000 }),
      guard: new CommandGuard(db, {
        gatewayId: 'gw-timeout',
        keys: new Map([['default', publicKeyFromBase64(keys.publicKey)]]),
        maxSkewMs: 1000,
        maxLifetimeMs: 60_000,
      }),
      db,
      log,
      status: () => ({}),
    });
    link.start();
    cleanups.push(() => link.stop());
    await new Promise<void>((r) => link.once('connect', () => r()));
    await expectVendgateError(link.request('order.create', {}, 150), ErrorCode.RequestTimeout);
  });

  it('reconnects with a growing backoff while the broker is away', async () => {
    const port = await freePort();
    const tmp = tempDir();
    const db = openStore({ path: join(tmp.dir, 'v.db') });
    cleanups.push(() => {
      db.close();
      tmp.cleanup();
    });
    const keys = generateRawKeyPair();
    const link = new PlatformLink({
      brokerUrl: `mqtt://127.0.0.1:${port}`,
      gatewayId: 'gw-backoff',
      outbox: new Outbox(db, { gatewayId: 'gw-backoff', maxRows: 100, telemetryTtlMs: 1000 }),
      guard: new CommandGuard(db, {
        gatewayId: 'gw-backoff',
        keys: new Map([['default', publicKeyFromBase64(keys.publicKey)]]),
        maxSkewMs: 1000,
        maxLifetimeMs: 60_000,
      }),
      db,
      log,
      status: () => ({}),
    });
    const attempts: number[] = [];
    const t0 = Date.now();
    // Count connection attempts from the outside: a listener that refuses by closing at once.
    const { createServer } = await import('node:net');
    const server = createServer((sock) => {
      attempts.push(Date.now() - t0);
      sock.destroy();
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    link.start();
    cleanups.push(() => link.stop());
    await new Promise((r) => setTimeout(r, 2600));
    // 0, +250, +500, +1000 (then +2000): about 4 attempts, not the ~11 a fixed 250 ms period would make.
    expect(attempts.length).toBeGreaterThanOrEqual(3);
    expect(attempts.length).toBeLessThanOrEqual(5);
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]!).toBeGreaterThan(gaps[i - 1]! * 1.5);
  });
});

function statsFor(outbox: Outbox): GatewayStatus['outbox'] {
  const s = outbox.stats();
  return { pending: s.pending, dropped: s.dropped, expired: s.expired };
}

/** What a newly connecting subscriber is told about the gateway's status (the retained message). */
async function retainedStatus(url: string, gatewayId: string): Promise<unknown> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  try {
    const got = new Promise<unknown>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no retained status')), 3000);
      c.on('message', (_topic, payload, packet) => {
        if (!packet.retain) return;
        clearTimeout(t);
        // The status is signed by the gateway key: the body is what it says.
        resolve(JSON.parse((JSON.parse(payload.toString()) as { body: string }).body));
      });
    });
    await c.subscribeAsync(gatewayTopics(gatewayId).status, { qos: 1 });
    return await got;
  } finally {
    await c.endAsync(true);
  }
}
